"""Run `python -m docqa dataset ...` as a Ray job on a cluster: `make dataset` does this when
RAY_ADDRESS (the cluster's dashboard, e.g. http://head:8265) is set.

The project folder is shipped as the job's working directory (without .venv, .cache, out and .git), and
the job runs with the same Python path as here, so every node needs the project's environment at that
path (one image or one shared filesystem for the cluster). Paths in the config that the job must share
with this machine (output, caches, inputs) are made absolute, so they must be on a filesystem every node
sees. Logs stream back; the job id and the output folder are printed; the exit code is the job's, or 2
with one line naming the fix when the cluster cannot be reached or refuses this client.

Ray 2.60 clusters use token authentication, but a client sends the token only when RAY_AUTH_MODE=token
is set in its environment; the token is read from ~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import time
from pathlib import Path

from docqa.config import Config
from docqa.ingest.sources import is_url

ROOT = Path(__file__).resolve().parents[2]  # the project folder, shipped as the job's working directory
AGENT_WAIT_S = 120  # how long a fresh cluster may take to accept jobs
NOT_SHIPPED = [".venv", ".cache", "out", ".git", "__pycache__", "*.egg-info"]


def _absolute(path: str) -> str:
    """A local path made absolute (`~` expanded, a list file's `@` kept); a URL as it is."""
    if path.startswith("@"):
        return "@" + _absolute(path[1:])
    return path if is_url(path) else str(Path(path).expanduser().resolve())


def job_arguments(config_path: str, config: Config, overrides: list[str]) -> list[str]:
    """The `pipeline dataset` arguments for the job: the same settings, with shared paths made absolute."""
    shared = {
        "output.dir": config.output.dir,
        "output.staging_dir": config.output.staging_dir,
        "model.cache_dir": config.model.cache_dir,
        "input.sample_dir": config.input.sample_dir,
    }
    if config.output.cache_dir:
        shared["output.cache_dir"] = config.output.cache_dir
    arguments = ["--config", _absolute(config_path)]
    for override in overrides:
        arguments += ["--set", override]
    for key, value in shared.items():
        arguments += ["--set", f"{key}={_absolute(value)}"]
    if config.input.paths:
        arguments += ["--set", "input.paths=[" + ",".join(f'"{_absolute(p)}"' for p in config.input.paths) + "]"]
    return arguments


def cluster_problem(address: str, exc: Exception) -> str:
    """One line saying why the cluster at `address` cannot take the job, and what to do about it."""
    from ray.exceptions import AuthenticationError

    if not isinstance(exc, AuthenticationError):
        return (
            f"no Ray cluster answers at {address}: set RAY_ADDRESS to the head node's dashboard, "
            "http://<head>:8265 (started with --dashboard-host 0.0.0.0 to be reachable from other machines)"
        )
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return (
            f"the Ray cluster at {address} requires its token: export RAY_AUTH_MODE=token here, with the head "
            "node's ~/.ray/auth_token copied to this machine (or its content in RAY_AUTH_TOKEN)"
        )
    reason = exc.message.strip().splitlines()[0]
    return (
        f"the Ray cluster at {address} refused this machine's token ({reason}): copy the head node's "
        "~/.ray/auth_token here, or set RAY_AUTH_TOKEN to its content"
    )


def submit(address: str, config_path: str, config: Config, overrides: list[str]) -> int:
    """Submit the run as a Ray job to the cluster whose dashboard is at `address`, follow it to its end."""
    from ray.exceptions import AuthenticationError

    try:
        return _submit_and_follow(address, config_path, config, overrides)
    except (AuthenticationError, ConnectionError) as exc:
        print(f"error: {cluster_problem(address, exc)}", file=sys.stderr)
        return 2


def _submit_and_follow(address: str, config_path: str, config: Config, overrides: list[str]) -> int:
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(address)
    arguments = job_arguments(config_path, config, overrides)
    entrypoint = shlex.join([sys.executable, "-m", "docqa", "dataset", *arguments])
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            job_id = client.submit_job(
                entrypoint=entrypoint, runtime_env={"working_dir": str(ROOT), "excludes": NOT_SHIPPED}
            )
            break
        except RuntimeError as exc:  # a cluster that has just started may not have its job agent up yet
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            print("Waiting for the cluster's job agent to come up...", flush=True)
            time.sleep(5)
    print(f"Submitted Ray job {job_id} to {address}; the dataset goes to {_absolute(config.output.dir)}", flush=True)

    async def follow() -> None:
        async for lines in client.tail_job_logs(job_id):
            print(lines, end="", flush=True)

    asyncio.run(follow())
    status = client.get_job_status(job_id)
    print(f"Ray job {job_id}: {status}", flush=True)
    return 0 if status == JobStatus.SUCCEEDED else 1
