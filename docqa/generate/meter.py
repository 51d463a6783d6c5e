"""How busy an engine is kept: the requests it holds, counted as they start and end.

A generate stage feeds its engine several batches at once (`model.batches_in_flight`) so that the engine
never drains at a batch's tail; whether that works shows in `stats.json` → `engine`: when each engine
became ready and the share of its time since then that it held at least one request. Each batch that
ends takes the engine's time since the previous batch ended (`EngineTime`, shared among its windows), so
the spans of concurrent batches never overlap and their sum is the engine's time from ready to its last
batch. Thread-safe: the endpoint backend counts its requests from a pool of threads.
"""

from __future__ import annotations

import os
import socket
import threading
import time

from docqa.records import EngineTime


class RequestMeter:
    def __init__(self, setup_started: float):
        """`setup_started`: `time.monotonic()` when the engine began to start; the meter is made once it is ready."""
        self.engine = f"{socket.gethostname()}:{os.getpid()}"
        self.ready_at = time.time()
        now = time.monotonic()
        self.start_s = now - setup_started
        self._lock = threading.Lock()
        self._in_flight = 0
        self._span_started = now
        self._busy_s = 0.0  # in the current span, up to `_busy_since`
        self._busy_since = now
        self._most = 0  # most requests at once in the current span

    def started(self, requests: int = 1) -> None:
        with self._lock:
            if not self._in_flight:
                self._busy_since = time.monotonic()
            self._in_flight += requests
            self._most = max(self._most, self._in_flight)

    def finished(self, requests: int = 1) -> None:
        with self._lock:
            self._in_flight -= requests
            if not self._in_flight:
                self._busy_s += time.monotonic() - self._busy_since

    def batch_ended(self, windows: int) -> EngineTime:
        """Each of a finished batch's `windows` windows' share of the engine's time since the last batch ended."""
        with self._lock:
            now = time.monotonic()
            busy = self._busy_s + (now - self._busy_since if self._in_flight else 0.0)
            span = now - self._span_started
            most = self._most
            self._span_started = self._busy_since = now
            self._busy_s, self._most = 0.0, self._in_flight
        share = max(windows, 1)
        return EngineTime(self.engine, self.ready_at, self.start_s, span / share, busy / share, most)
