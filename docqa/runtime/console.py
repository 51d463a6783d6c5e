"""The console of a run, kept for people: a few lines of ours, while everything else goes to a log file.

Ray, its workers (whose output Ray forwards to this process), vLLM and the other libraries write to file
descriptors 1 and 2, from this process and from the processes it starts, at any time until it exits (an
engine's shutdown messages come from garbage collection). So `Console(log).start()` points both
descriptors at the log file for the rest of the process, and keeps copies of the terminal's for what the
run itself shows: the progress line, its own messages, errors, the summary.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TextIO


def log_path(build_folder: Path) -> Path:
    """The log file of a run: beside the folder the dataset is built in, never inside what is published."""
    folder = build_folder.absolute()
    # "/" has no name; such an output is refused before anything is written, the log included.
    return folder.parent / f"{folder.name or 'docqa'}.log"


class Console:
    """Where a run speaks to people. With a `log`, `start()` sends descriptors 1 and 2 to it for good, and
    `out` and `err` stay on the terminal; without one (`--verbose`), nothing is redirected."""

    def __init__(self, log: Path | None = None):
        self.log = log
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr
        self.started = False

    def start(self) -> None:
        """Called once the run's settings and inputs are checked, before any work; says where the log is."""
        if self.log is None or self.started:
            return
        self.started = True
        self.log.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        self.err = os.fdopen(os.dup(2), "w", buffering=1)
        file = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(file, f"\n==== docqa {' '.join(sys.argv[1:])} at {time.strftime('%Y-%m-%d %H:%M:%S')} ====\n".encode())
        os.dup2(file, 1)
        os.dup2(file, 2)
        os.close(file)
        print(f"Ray's and vLLM's logs: {self.log}", file=self.out)
