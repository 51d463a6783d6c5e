"""The three kinds of fault, told apart once, here.

- A document's fault (a file that is not a PDF, a page MuPDF cannot read, a completion that is not JSON)
  costs that document: its record carries a `docqa.records.Failure` to the rejects table and the run goes
  on. Exceptions a library raises while reading a document are of this kind.
- A systemic fault (`SystemicFault`: the endpoint refuses the API key, OCR language data is missing, the
  output is not writable, every document fails the same way) would fail every document alike: the run
  stops at once with one line saying what happened and what to fix, and keeps its committed work units.
- A bug in this project (`is_bug`: a TypeError, KeyError, ... raised in our own code) stops the run with
  its traceback. It is never turned into a reject, where it would pass for a bad document.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from pathlib import Path

from docqa.records import Failure, PageWindow, Receipt

PACKAGE_DIR = Path(__file__).resolve().parents[1]

# What a mistake in our code raises; the same types raised inside a library reading a file are the file's.
BUG_TYPES = (TypeError, AttributeError, KeyError, NameError, IndexError, ValueError, AssertionError, ZeroDivisionError)


class SystemicFault(Exception):
    """No document can succeed until something outside the data is fixed. The message reads
    "<what happened>; <what to fix>" and is shown as the run's only line of error."""


def is_bug(exc: BaseException) -> bool:
    """Whether `exc` is a programming error raised in this package's own code (its innermost frame)."""
    if not isinstance(exc, BUG_TYPES):
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE_DIR)


def stops_the_run(exc: BaseException) -> bool:
    """Whether `exc` must stop the run rather than fail the record it was raised for."""
    return isinstance(exc, SystemicFault) or is_bug(exc)


# Writing anything (work units, the page cache, shards) failed because the storage is full, over quota, or
# read-only: every later write would fail alike.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def systemic_fault_in(exc: BaseException | None) -> SystemicFault | None:
    """The innermost SystemicFault behind `exc` (Ray re-raises a worker's exception wrapped in its own: a
    RayTaskError that is also a SystemicFault, whose message is the worker's traceback), or one made of
    storage that is full or read-only."""
    found, seen = None, set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, SystemicFault):
            found = exc
        elif found is None and isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
            found = SystemicFault(
                f"cannot write: {exc.strerror or exc} (errno {exc.errno}); free space or choose another --output "
                "and cache folder, then run the same command again to resume"
            )
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    return found


class LoadFailureGuard:
    """Stops a run whose first `limit` documents all failed to load with the same kind of failure: a
    setting or the machine is wrong (a missing password, no OCR data, a limit set too low), not the files.

    Any document that loads disarms it, as does a second kind of failure; a window rejected later (by a
    filter or the deduplication) means its document loaded. `limit` 0 turns it off.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.failed: dict[str, Failure] = {}  # source_path -> its load failure
        self.armed = limit > 0

    def see(self, windows: Iterable[PageWindow | Receipt]) -> None:
        for window in windows:
            if not self.armed:
                return
            if window.error is None or window.error.stage != "load":
                self.armed = False
                return
            self.failed.setdefault(window.source_path, window.error)
            if len({f.kind for f in self.failed.values()}) > 1:
                self.armed = False
            elif len(self.failed) >= self.limit:
                raise SystemicFault(
                    f"the first {len(self.failed)} documents all failed to load with {window.error.kind} (e.g. "
                    f"{window.source_path}: {window.error.reason}); fix the cause and run again, or set "
                    "run.stop_after_failed_documents=0 to go on regardless"
                )
