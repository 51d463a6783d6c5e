"""IsolatedWorker with real child processes: hangs, runaway allocations, segfaults and exceptions in the child
cost one call, and the next call works. The functions the child runs are defined at module level here; the
child imports this module by name, through the parent's sys.path.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from docqa.ingest.isolation import (
    IsolatedWorker,
    WorkerCrash,
    WorkerError,
    WorkerOutOfMemory,
    WorkerStartError,
    WorkerTimeout,
    is_out_of_memory,
)
from tests.conftest import ROOT

GIB = 2**30
TESTS = Path(__file__).resolve().parent


def child_pid(arg: object) -> tuple[int, object]:
    return os.getpid(), arg


def sleep_for(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def mark_then_sleep(marker: str) -> None:
    Path(marker).write_text(str(os.getpid()))
    time.sleep(120)


def allocate(n_bytes: int) -> int:
    return len(bytearray(n_bytes))


def die(how: tuple[str, int] | None) -> int:
    """("signal", SIGSEGV) or ("exit", 3) ends the process; None returns its pid."""
    if how is None:
        return os.getpid()
    kind, number = how
    if kind == "signal":
        os.kill(os.getpid(), number)
    os._exit(number)


def raise_value_error(message: str) -> None:
    raise ValueError(message)


class UnpicklableError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.lock = threading.Lock()


def raise_unpicklable(message: str) -> None:
    raise UnpicklableError(message)


def return_unpicklable(_: object) -> threading.Lock:
    return threading.Lock()


def count_pages(pdf_path: str) -> int:
    import pymupdf

    with pymupdf.open(pdf_path) as doc:
        return doc.page_count


def render_blank_pixmap(side_px: int) -> int:
    import pymupdf

    pixmap = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, side_px, side_px))
    return pixmap.width * pixmap.height * pixmap.n


def is_gone(pid: int) -> bool:
    """Neither running nor a zombie: signal 0 reaches an unreaped zombie, but not a reaped process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def is_running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie is for its new parent to reap, not for us)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def child_processes() -> set[int]:
    tasks = Path(f"/proc/{os.getpid()}/task")
    return {int(pid) for children in tasks.glob("*/children") for pid in children.read_text().split()}


@pytest.fixture
def worker():
    with IsolatedWorker(child_pid, timeout_s=30) as w:
        yield w


def test_call_returns_the_result_and_reuses_the_child(worker):
    pid, value = worker.call({"page": 3})
    assert value == {"page": 3}
    assert pid != os.getpid()
    assert worker.call("again") == (pid, "again")
    assert worker.pid == pid


def test_a_call_past_the_timeout_is_killed_and_the_next_call_gets_a_fresh_child():
    with IsolatedWorker(sleep_for, timeout_s=1) as worker:
        first = worker.call(0)
        started = time.monotonic()
        with pytest.raises(WorkerTimeout, match=r"^timed out after 1 s$"):
            worker.call(60)
        assert time.monotonic() - started < 3
        assert is_gone(first)
        assert worker.pid is None
        assert worker.call(0) not in (first, None)


def test_a_runaway_allocation_fails_at_the_memory_limit():
    with IsolatedWorker(allocate, timeout_s=30, memory_bytes=GIB) as worker:
        assert worker.call(1000) == 1000
        with pytest.raises(WorkerOutOfMemory, match=r"^exceeded the memory limit of 1 GiB$"):
            worker.call(8 * GIB)
        assert worker.call(1000) == 1000


def test_a_mupdf_allocation_past_the_memory_limit_is_a_memory_error():
    """A 18000 x 18000 RGB pixmap (0.97 GB) is within MuPDF's size limits but not within 1 GiB of address space."""
    with IsolatedWorker(render_blank_pixmap, timeout_s=30, memory_bytes=GIB) as worker:
        assert worker.call(100) == 100 * 100 * 3
        with pytest.raises(WorkerOutOfMemory):
            worker.call(18000)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        (("signal", signal.SIGSEGV), "worker crashed (signal SIGSEGV)"),
        (("exit", 3), "worker exited with code 3"),
    ],
)
def test_a_child_that_dies_is_a_crash_and_the_next_call_works(how, reason):
    with IsolatedWorker(die, timeout_s=30) as worker:
        first = worker.call(None)
        with pytest.raises(WorkerCrash) as raised:
            worker.call(how)
        assert str(raised.value) == reason
        assert is_gone(first)
        assert worker.call(None) not in (first, None)


def test_an_exception_from_fn_comes_back_with_its_type_and_the_child_stays():
    with IsolatedWorker(raise_value_error, timeout_s=30) as worker:
        with pytest.raises(ValueError) as raised:
            worker.call("page 3 has no media box")
        assert str(raised.value) == "page 3 has no media box"
        assert not isinstance(raised.value, WorkerError)
        assert "raise_value_error" in "".join(raised.value.__notes__)  # the child's traceback
        pid = worker.pid
        with pytest.raises(ValueError):
            worker.call("again")
        assert worker.pid == pid


def test_an_exception_that_does_not_pickle_comes_back_as_a_runtime_error_naming_it():
    with IsolatedWorker(raise_unpicklable, timeout_s=30) as worker:
        with pytest.raises(RuntimeError) as raised:
            worker.call("object 7 is broken")
        assert str(raised.value) == "UnpicklableError: object 7 is broken"


def test_a_result_that_does_not_pickle_is_an_error_and_the_child_stays():
    with IsolatedWorker(return_unpicklable, timeout_s=30) as worker:
        with pytest.raises(TypeError, match="pickle"):
            worker.call(None)
        pid = worker.pid
        with pytest.raises(TypeError):
            worker.call(None)
        assert worker.pid == pid


def test_the_worker_pickles_before_first_use_and_the_copy_starts_its_own_child():
    worker = IsolatedWorker(child_pid, timeout_s=30, memory_bytes=2 * GIB)
    copy = pickle.loads(pickle.dumps(worker))
    with copy:
        _, value = copy.call("shipped")
        assert value == "shipped"
        assert (copy.timeout_s, copy.memory_bytes) == (30, 2 * GIB)
    assert worker.pid is None


def test_close_leaves_no_child_and_no_thread():
    threads, children = set(threading.enumerate()), child_processes()
    with IsolatedWorker(child_pid, timeout_s=30) as worker:
        pid, _ = worker.call(None)
        assert child_processes() == children | {pid}
    assert is_gone(pid)
    assert child_processes() == children
    assert worker.pid is None
    assert set(threading.enumerate()) == threads
    worker.close()  # closing twice is fine


def test_a_child_stuck_in_a_call_dies_with_its_parent(tmp_path):
    """The parent, standing in for a Ray worker, is killed with SIGKILL while its child sleeps in a call."""
    marker = tmp_path / "child-pid"
    script = (
        "import sys\n"
        f"sys.path[:0] = {[str(TESTS), str(ROOT)]!r}\n"
        "from docqa.ingest.isolation import IsolatedWorker\n"
        "from test_isolation import mark_then_sleep\n"
        f"IsolatedWorker(mark_then_sleep, timeout_s=120).call({str(marker)!r})\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int(marker.read_text())
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_running(pid):
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the child outlived its parent")


def test_a_lambda_is_refused_at_construction():
    with pytest.raises(TypeError, match="module-level function"):
        IsolatedWorker(lambda x: x, timeout_s=1)


def test_a_function_the_child_cannot_import_is_a_start_error_that_says_why(monkeypatch):
    module = types.ModuleType("only_in_the_parent")

    def echo(x):
        return x

    echo.__module__, echo.__qualname__ = module.__name__, "echo"
    module.echo = echo
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with IsolatedWorker(echo, timeout_s=30) as worker:
        with pytest.raises(WorkerStartError, match="No module named 'only_in_the_parent'"):
            worker.call(1)
        assert worker.pid is None


def test_pymupdf_opens_a_pdf_in_the_child(tmp_path):
    import pymupdf

    path = tmp_path / "three-pages.pdf"
    with pymupdf.open() as doc:
        for number in range(3):
            doc.new_page().insert_text((72, 72), f"page {number + 1}")
        doc.save(path)
    with IsolatedWorker(count_pages, timeout_s=30, memory_bytes=2 * GIB) as worker:
        assert worker.call(str(path)) == 3


@pytest.mark.parametrize(
    ("exc", "out_of_memory"),
    [
        (MemoryError(), True),
        (RuntimeError("code=2: realloc (551105713 bytes) failed"), True),  # the font decompression bomb
        (RuntimeError("code=1: Director error: <class 'MemoryError'>: <C_nullptr>"), True),  # raised in a callback
        (RuntimeError("code=5: too many nested graphics states"), False),
        (ValueError("cannot allocate a name"), False),
    ],
)
def test_failed_allocations_are_told_apart_from_other_errors(exc, out_of_memory):
    """These messages are what PyMuPDF raised on the hostile corpus under a 1 GiB limit."""
    assert is_out_of_memory(exc) is out_of_memory
