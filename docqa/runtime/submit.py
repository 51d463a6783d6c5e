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

The job's command line and runtime_env (its env_vars included) are shown by the Ray dashboard and
`ray job list`, so settings that carry a secret (passwords, secret-named `model.env` entries, URLs with
credentials or a signature) do not go there: every override of a config section holding one is written
to a file in a small module shipped with the job (`py_modules`, uploaded like the working directory and
listed only by a content hash, salted so it reveals nothing), and the job reads them from there.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shlex
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from docqa.config import Config, apply_override
from docqa.ingest.sources import is_url
from docqa.output.provenance import safe_location
from docqa.redaction import redact

ROOT = Path(__file__).resolve().parents[2]  # the project folder, shipped as the job's working directory
AGENT_WAIT_S = 120  # how long a fresh cluster may take to accept jobs
NOT_SHIPPED = [".venv", ".cache", "out", ".git", "__pycache__", "*.egg-info"]
SECRETS_MODULE = "docqa_job_secrets"  # the folder shipped as a py_module, holding SECRETS_FILE
SECRETS_FILE = "overrides.json"


def _absolute(path: str) -> str:
    """A local path made absolute (`~` expanded, a list file's `@` kept); a URL as it is."""
    if path.startswith("@"):
        return "@" + _absolute(path[1:])
    return path if is_url(path) else str(Path(path).expanduser().resolve())


def job_arguments(config_path: str, config: Config, overrides: list[str]) -> tuple[list[str], list[str]]:
    """The `docqa dataset` arguments for the job: the same settings, with shared paths made absolute; and
    apart, the overrides of every config section in which one carries a secret (kept whole per section,
    so that the job applies them in the same order)."""
    shared = {
        "output.dir": config.output.dir,
        "output.staging_dir": config.output.staging_dir,
        "model.cache_dir": config.model.cache_dir,
        "input.sample_dir": config.input.sample_dir,
    }
    if config.output.cache_dir:
        shared["output.cache_dir"] = config.output.cache_dir
    assignments = [*overrides, *(f"{key}={_absolute(value)}" for key, value in shared.items())]
    if config.input.paths:
        assignments.append("input.paths=" + json.dumps([_absolute(p) for p in config.input.paths]))
    secret_sections = {_section(a) for a in assignments if carries_secret(a)}
    arguments = ["--config", _absolute(config_path)]
    for assignment in assignments:
        if _section(assignment) not in secret_sections:
            arguments += ["--set", assignment]
    return arguments, [a for a in assignments if _section(a) in secret_sections]


def carries_secret(assignment: str) -> bool:
    """Whether the override `a.b=c` sets something config.yaml would not show as given: a password, a
    secret-named entry, a URL with credentials or a query string."""
    data: dict[str, Any] = {}
    apply_override(data, assignment)
    return redact(data, Config) != data


def _section(assignment: str) -> str:
    return assignment.partition("=")[0].strip().split(".")[0]


def job_spec(config_path: str, config: Config, overrides: list[str], secrets_dir: Path) -> tuple[str, dict[str, Any]]:
    """The job's entrypoint and runtime_env; secret overrides are written under `secrets_dir`, which must
    last until the job is submitted (its files are uploaded then)."""
    arguments, secret = job_arguments(config_path, config, overrides)
    runtime_env: dict[str, Any] = {"working_dir": str(ROOT), "excludes": NOT_SHIPPED}
    if secret:
        module = secrets_dir / SECRETS_MODULE
        module.mkdir(mode=0o700)
        file = module / SECRETS_FILE
        file.touch(mode=0o600)
        # The nonce salts the package's content hash, which runtime_env shows.
        file.write_text(json.dumps({"overrides": secret, "nonce": secrets.token_hex(16)}))
        runtime_env["py_modules"] = [str(module)]
        arguments.append("--shipped-overrides")
    return shlex.join([sys.executable, "-m", "docqa", "dataset", *arguments]), runtime_env


def shipped_overrides() -> list[str]:
    """In the job: the secret overrides `job_spec` shipped with it."""
    return json.loads((resources.files(SECRETS_MODULE) / SECRETS_FILE).read_text())["overrides"]


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
    deadline = time.monotonic() + AGENT_WAIT_S
    with tempfile.TemporaryDirectory(prefix="docqa-job-") as secrets_dir:
        entrypoint, runtime_env = job_spec(config_path, config, overrides, Path(secrets_dir))
        while True:
            try:
                job_id = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)
                break
            except RuntimeError as exc:  # a cluster that has just started may not have its job agent up yet
                if "No available agent" not in str(exc) or time.monotonic() > deadline:
                    raise
                print("Waiting for the cluster's job agent to come up...", flush=True)
                time.sleep(5)
    destination = safe_location(_absolute(config.output.dir))
    print(f"Submitted Ray job {job_id} to {address}; the dataset goes to {destination}", flush=True)

    async def follow() -> None:
        async for lines in client.tail_job_logs(job_id):
            print(lines, end="", flush=True)

    asyncio.run(follow())
    status = client.get_job_status(job_id)
    print(f"Ray job {job_id}: {status}", flush=True)
    return 0 if status == JobStatus.SUCCEEDED else 1
