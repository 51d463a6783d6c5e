"""The README's cluster steps as a user runs them, with Ray's token authentication: a token made with
`ray get-auth-token --generate`, `ray start --head` and `ray start --address` as separate processes (two
nodes on this machine, each with its own home folder, as on two machines), then `python -m docqa submit`
from a third home. The run needs no engine: its one input is not a PDF, so it is rejected at load.

Each node runs in a process group of its own and a temporary folder of its own; teardown ends those
groups. `ray stop` is not used: it stops every Ray process on the machine, other users' clusters included.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.integration

RAY = str(Path(sys.executable).parent / "ray")
# The model is never called: every input is rejected before generation, and the endpoint's model is named.
NO_ENGINE = ["text.ocr=false", "model.endpoint=http://127.0.0.1:9/v1", "model.endpoint_model=unused", "output.cache_dir=null"]


def node_ports() -> list[str]:
    """Ports that two nodes (or two clusters) on one machine would otherwise both take by default."""
    return ["--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port())]


def end_group(group: int) -> None:
    """Stop one node's process group: SIGTERM, then SIGKILL for what is still there after 20 s."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster():
    # Not pytest's tmp_path: Ray's socket paths under its temp folder must stay short.
    scratch = Path(tempfile.mkdtemp(prefix="docqa-ray-"))
    head_home, node_home, client_home = (scratch / name for name in ("head", "node", "client"))
    for home in (head_home, node_home, client_home):
        home.mkdir()
    groups = []

    def ray(home: Path, *arguments: str, **env: str) -> subprocess.CompletedProcess:
        process = subprocess.Popen(
            [RAY, *arguments], env={**os.environ, "HOME": str(home), **env}, cwd=scratch,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        groups.append(process.pid)  # the nodes `ray start` leaves running stay in its process group
        output, _ = process.communicate(timeout=180)
        return subprocess.CompletedProcess(process.args, process.returncode, output)

    try:
        ray(head_home, "get-auth-token", "--generate", RAY_AUTH_MODE="token")
        token = (head_home / ".ray" / "auth_token").read_text().strip()
        gcs, dashboard = free_port(), free_port()
        common = ["--num-cpus=1", f"--temp-dir={scratch / 'ray'}", "--disable-usage-stats", *node_ports()]
        head = ray(
            head_home, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}", *common, RAY_AUTH_MODE="token",
        )
        assert head.returncode == 0, head.stdout[-3000:]
        # Another node: the token from the environment, no token file in its home.
        node = ray(node_home, "start", f"--address=127.0.0.1:{gcs}", *common, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
        assert node.returncode == 0, node.stdout[-3000:]
        # The machine that runs `make dataset`: the head's token file copied into its home.
        (client_home / ".ray").mkdir()
        shutil.copy(head_home / ".ray" / "auth_token", client_home / ".ray" / "auth_token")
        yield f"http://127.0.0.1:{dashboard}", client_home
    finally:
        for group in reversed(groups):
            end_group(group)
        shutil.rmtree(scratch, ignore_errors=True)


def submit(address: str, home: Path, inputs: Path, output: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    command = [sys.executable, "-m", "docqa", "submit", "--address", address, "--input", str(inputs), "--output", str(output)]
    return subprocess.run(
        command + [arg for setting in NO_ENGINE for arg in ("--set", setting)],
        cwd=ROOT, env={**environment, "HOME": str(home), **env}, capture_output=True, text=True, timeout=600,
    )


def make_dataset(address: str, home: Path, inputs: Path, output: Path, **env: str) -> subprocess.CompletedProcess:
    """The README's command, `RAY_ADDRESS=... make dataset INPUT=... OUTPUT=...`, with make told that the
    installed environment is up to date (`-o`), as it is once `make test` runs."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    stamp = f".venv/.installed-{'gpu' if shutil.which('nvidia-smi') else 'cpu'}"
    command = ["make", "-o", stamp, "dataset", f"INPUT={inputs}", f"OUTPUT={output}", "SET=" + " ".join(NO_ENGINE)]
    return subprocess.run(
        command, cwd=ROOT, env={**environment, "HOME": str(home), "RAY_ADDRESS": address, **env},
        capture_output=True, text=True, timeout=600,
    )


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "notes.pdf").write_text("meeting notes, not a PDF")
    return folder


def test_a_job_submitted_with_the_cluster_token_succeeds_and_accounts_for_its_input(cluster, inputs, tmp_path, embedded_model):
    address, home = cluster
    done = make_dataset(address, home, inputs, tmp_path / "dataset", RAY_AUTH_MODE="token")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "Submitted Ray job raysubmit_" in log and "SUCCEEDED" in log
    stats = json.loads((tmp_path / "dataset" / "stats.json").read_text())
    assert (stats["inputs"], stats["documents_rejected"], stats["rejects_by_stage"]) == (1, 1, {"load": 1})


def test_without_ray_auth_mode_submit_says_how_to_send_the_token(cluster, inputs, tmp_path):
    address, home = cluster
    done = submit(address, home, inputs, tmp_path / "dataset")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: the Ray cluster at {address} requires its token: export RAY_AUTH_MODE=token here, with the head "
        "node's ~/.ray/auth_token copied to this machine (or its content in RAY_AUTH_TOKEN)"
    ]


def test_a_wrong_token_or_address_is_one_line_naming_the_fix(cluster, inputs, tmp_path):
    address, home = cluster
    wrong = submit(address, home, inputs, tmp_path / "dataset", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="not-the-token")
    assert wrong.returncode == 2
    assert wrong.stderr.startswith(f"error: the Ray cluster at {address} refused this machine's token")
    assert wrong.stderr.count("\n") == 1 and "copy the head node's ~/.ray/auth_token here" in wrong.stderr
    nowhere = f"http://127.0.0.1:{free_port()}"
    missing = submit(nowhere, home, inputs, tmp_path / "dataset", RAY_AUTH_MODE="token")
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: no Ray cluster answers at {nowhere}: set RAY_ADDRESS")
    assert missing.stderr.count("\n") == 1
