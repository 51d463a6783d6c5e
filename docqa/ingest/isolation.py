"""Run a function in a long-lived child process, so that a document which hangs MuPDF, exhausts memory or
crashes the interpreter costs that one document and not the process that asked for it.

`IsolatedWorker(fn, timeout_s=30, memory_bytes=2 << 30)` starts a child on its first `call(arg)` and
reuses it for later calls. A call that runs past its timeout, kills the child or runs out of memory raises
a `WorkerError` whose message is the reason to record ("timed out after 30 s", "worker crashed (signal
SIGSEGV)", "exceeded the memory limit of 2 GiB") and whose `kind` names it (timeout, crash,
memory_limit); that child is killed and the next call starts a fresh
one. A failed allocation counts as the memory limit only when it leaves `fn`: Python's MemoryError or
MuPDF's "malloc (N bytes) failed" (`is_out_of_memory`), so `fn` must not swallow those. Any other
exception raised by `fn` comes back as itself (or as a RuntimeError naming its type, when it does not
pickle), with the child's traceback as a note, and the child is kept.

The child is a fresh interpreter started with `subprocess` (fork and exec, safe from a multi-threaded Ray
worker) rather than a multiprocessing `spawn` process: spawn re-runs the parent's main script in the child
(a Ray worker's imports Ray) and starts multiprocessing's resource-tracker process, which outlives
`close()`.

`memory_bytes` limits the child's address space (RLIMIT_AS), which is larger than the memory it touches:
the interpreter with PyMuPDF imported already maps about 0.5 GiB.
"""

from __future__ import annotations

import pickle
import re
import resource
import signal
import subprocess
import sys
import traceback
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection, Pipe
from typing import Any, ClassVar

from docqa.runtime.faults import SystemicFault

START_TIMEOUT_S = 60.0  # a fresh interpreter importing PyMuPDF starts in well under a second

# MuPDF reports a failed allocation as FzErrorSystem "malloc (675000000 bytes) failed" (or calloc, realloc),
# which PyMuPDF raises as RuntimeError("code=2: realloc (551105713 bytes) failed"); a MemoryError in one of
# PyMuPDF's Python callbacks comes back wrapped: "code=1: Director error: <class 'MemoryError'>: ...".
MUPDF_ALLOCATION_FAILED = re.compile(r"\b(?:m|c|re)alloc \(.*\) failed|<class 'MemoryError'>")

# The child's first lines use the standard library only: it learns the parent's sys.path over the socket
# before it imports anything from this project.
BOOTSTRAP = """\
import sys
from multiprocessing.connection import Connection
conn = Connection(int(sys.argv[1]))
sys.path[:] = conn.recv()
from docqa.ingest.isolation import serve
serve(conn)
"""


class WorkerError(Exception):
    """A call that cost its document; the message is the reason to record, `kind` its category."""

    kind: ClassVar[str]


class WorkerTimeout(WorkerError):
    """The call ran past its timeout; the child was killed."""

    kind = "timeout"


class WorkerCrash(WorkerError):
    """The child died during the call (a signal such as SIGSEGV, or an exit)."""

    kind = "crash"


class WorkerOutOfMemory(WorkerError):
    """The call failed to allocate memory within the limit; the child was stopped."""

    kind = "memory_limit"


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is a failed allocation: Python's MemoryError or MuPDF's. `fn` must let these propagate
    (re-raise them from any `except Exception`), or the memory limit cannot be reported as such."""
    return isinstance(exc, MemoryError) or MUPDF_ALLOCATION_FAILED.search(str(exc)) is not None


class WorkerStartError(SystemicFault):
    """The child could not start: a set-up problem that affects every document, not one document."""


class IsolatedWorker:
    """Calls `fn(arg)` in a child process that is started on first use and reused (see the module docstring).

    `fn` must be a module-level function; its argument and result must pickle. One call at a time: the
    worker is not thread-safe. It pickles without its child, so it can be built on the driver and shipped
    to Ray workers, where each copy starts its own child.
    """

    def __init__(self, fn: Callable[[Any], Any], *, timeout_s: float, memory_bytes: int | None = None):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if memory_bytes is not None and memory_bytes <= 0:
            raise ValueError(f"memory_bytes must be positive or None, got {memory_bytes}")
        try:
            pickle.dumps(fn)
        except Exception as exc:
            raise TypeError(f"fn must be a module-level function that pickles, got {fn!r}") from exc
        self.fn = fn
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self._child: _Child | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id, or None when no child is running."""
        return self._child.process.pid if self._child else None

    def call(self, arg: Any) -> Any:
        """Return `fn(arg)`, run in the child. The timeout counts from the request, not from a child's start."""
        request = pickle.dumps(arg, protocol=pickle.HIGHEST_PROTOCOL)  # a bad argument leaves the child alone
        if self._child is None or self._child.process.poll() is not None:
            self.close()
            self._child = _Child(self.fn, self.memory_bytes)
        conn = self._child.conn
        try:
            conn.send_bytes(request)
            if not conn.poll(self.timeout_s):
                raise WorkerTimeout(f"timed out after {self.timeout_s:g} s")
            kind, value = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):  # the socket closed: the child died during the call
            raise WorkerCrash(describe_exit(self._stop())) from None
        except BaseException:  # a timeout, an interrupted caller, a reply that does not unpickle
            self._stop()
            raise
        if kind == "ok":
            return value
        if kind == "memory":
            self._stop()  # MuPDF's state after a failed allocation is not worth trusting
            raise WorkerOutOfMemory(self._memory_reason())
        raise rebuild_exception(*value)

    def close(self) -> None:
        """Stop the child, if any. A later call starts a new one."""
        self._stop()

    def __enter__(self) -> IsolatedWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_child": None}

    def _stop(self) -> int | None:
        child, self._child = self._child, None
        return child.stop() if child else None

    def _memory_reason(self) -> str:
        if self.memory_bytes is None:
            return "ran out of memory"
        return f"exceeded the memory limit of {self.memory_bytes / 2**30:g} GiB"


class _Child:
    """A running child: its process and the parent's end of the socket. Killed when stopped or collected."""

    def __init__(self, fn: Callable[[Any], Any], memory_bytes: int | None):
        parent_end, child_end = Pipe()
        try:
            fd = child_end.fileno()
            self.process = subprocess.Popen(
                [sys.executable, "-c", BOOTSTRAP, str(fd)], pass_fds=(fd,), stdin=subprocess.DEVNULL
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        self.conn = parent_end
        self._finalizer = weakref.finalize(self, kill_child, self.process, parent_end)
        try:
            self._handshake(fn, memory_bytes)
        except BaseException:
            self.stop()
            raise

    def _handshake(self, fn: Callable[[Any], Any], memory_bytes: int | None) -> None:
        try:
            self.conn.send(sys.path)
            self.conn.send((fn, memory_bytes))
            if not self.conn.poll(START_TIMEOUT_S):
                raise WorkerStartError(f"worker did not start within {START_TIMEOUT_S:g} s")
            kind, detail = self.conn.recv()
        except (EOFError, OSError):
            raise WorkerStartError(f"worker could not start: {describe_exit(self.stop())}; see its stderr") from None
        if kind == "failed":
            error = WorkerStartError(f"worker could not start: {detail.strip().splitlines()[-1]}")
            error.add_note(f"In the worker:\n{detail}")
            raise error

    def stop(self) -> int:
        """Kill the child (if still running), reap it, and return its exit status."""
        return self._finalizer() if self._finalizer.alive else self.process.returncode


def kill_child(process: subprocess.Popen, conn: Connection) -> int:
    conn.close()
    process.kill()  # a no-op for a child that already exited
    return process.wait()


def describe_exit(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:  # a real-time signal has no name
            name = str(-returncode)
        return f"worker crashed (signal {name})"
    return f"worker exited with code {returncode}"


def rebuild_exception(pickled: bytes | None, type_name: str, message: str, child_traceback: str) -> BaseException:
    """The exception `fn` raised, as itself when it pickles both ways, else a RuntimeError naming its type."""
    exc = None
    if pickled is not None:
        try:
            exc = pickle.loads(pickled)
        except Exception:  # e.g. an __init__ with required arguments that are not in .args
            pass
    if not isinstance(exc, BaseException):
        exc = RuntimeError(f"{type_name}: {message}")
    exc.add_note(f"Raised in the isolated worker:\n{child_traceback}")
    return exc


# The child's side.


def serve(conn: Connection) -> None:
    """Set up, say "ready", then answer calls until the parent closes its end of the socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which then kills this child
    die_with_parent()
    try:
        fn, memory_bytes = conn.recv()
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except Exception:
        conn.send(("failed", traceback.format_exc()))
        return
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv_bytes()
        except EOFError:
            return
        conn.send_bytes(answer(fn, request))


def answer(fn: Callable[[Any], Any], request: bytes) -> bytes:
    try:
        reply = ("ok", fn(pickle.loads(request)))
    except Exception as exc:
        reply = ("memory", None) if is_out_of_memory(exc) else ("raised", portable(exc))
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # a result that does not pickle
        return pickle.dumps(("raised", portable(exc)), protocol=pickle.HIGHEST_PROTOCOL)


def portable(exc: Exception) -> tuple[bytes | None, str, str, str]:
    try:
        pickled = pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # MuPDF's exceptions hold SWIG pointers
        pickled = None
    return pickled, type(exc).__name__, str(exc), "".join(traceback.format_exception(exc))


def die_with_parent() -> None:
    """On Linux, have the kernel kill this child when its parent dies, even while it is stuck in C code.

    The signal comes when the parent *thread* that started the child exits; a child lost that way is
    noticed and replaced at the next call.
    """
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)
