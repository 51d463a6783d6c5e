"""The stage contract: a batch of records in, a batch of records out. No Ray in here.

A stage declares its input and output record types and the resources it needs (`Resources`, read by
the runners), does its heavy set-up in `setup()` (so it pickles
cheaply and Ray can ship it), and processes records one at a time in `process()` (0..N outputs each), or
a whole batch at once by overriding `process_batch()` (the LLM engine does). Records that already carry
an error are passed through. A stage that knows why a record failed returns `self.fail(record, kind,
reason)`. An exception a library raises for one record becomes that record's `Failure` (kind
`library_error`); a `SystemicFault`, a bug in our own code (`docqa.runtime.faults.is_bug`) and any
failure of a whole batch stop the run. Each output carries what producing it cost the stage (`costs`):
CPU seconds and GPU seconds (wall time x the GPUs the stage reserves).

`process()` may return a list or yield its outputs one at a time; the runners consume a stage through
`stream()`, so a record that expands to many (a tar shard to its documents' windows) is never held whole.
Outputs yielded before an exception stand; the record's error follows them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import psutil

from docqa.records import Failure, StageCost, extend
from docqa.runtime.faults import stops_the_run


@dataclass(frozen=True)
class Resources:
    """What a stage asks of the runner: how it batches and what each of its workers reserves."""

    batch_size: int = 64  # records handed to `__call__` at once
    num_cpus: float | None = 0.1  # CPUs reserved per worker in Ray's accounting; None: a share of what is left
    num_gpus: float = 0
    memory_gb: float = 0  # memory each worker is expected to hold, so Ray does not overcommit the node
    stateful: bool = False  # holds a loaded model, tokenizer or worker process: runs in long-lived actors
    replicas: int | None = 1  # actors, when stateful; None: one per whole CPU of that share (docqa.runtime.plan.seat)


class Stage:
    name: ClassVar[str]
    input_type: ClassVar[type]
    output_type: ClassVar[type]
    resources: Resources = Resources()  # a stage built from config sets its own in __init__

    _ready = False

    def setup(self) -> None:
        """Load what the stage needs (a tokenizer, a model). Called once per process, before the first batch."""

    def process(self, record: Any) -> Iterable[Any]:
        raise NotImplementedError

    def process_batch(self, records: list[Any]) -> Iterable[Any]:
        for record in records:
            try:
                yield from self.process(record)
            except Exception as exc:
                if stops_the_run(exc):
                    raise
                # A library choked on this record's data: one bad record must not stop the run.
                yield self.fail(record, "library_error", f"{type(exc).__name__}: {exc}")

    def fail(self, record: Any, kind: str, reason: str, about: str = "") -> Any:
        failed = extend(self.output_type, record) if type(record) is not self.output_type else record
        failed.error = Failure(self.name, kind, reason, about)
        return failed

    def ensure_setup(self) -> None:
        """Run `setup()` unless this process has already; the first batch does this by itself."""
        if not self._ready:
            self.setup()
            self._ready = True

    def stream(self, records: list[Any]) -> Iterator[Any]:
        """The outputs for a batch as they are produced, then the records that arrived failed."""
        healthy = [r for r in records if getattr(r, "error", None) is None]
        # Taken before processing: a stage whose output type is its input type fails a record in place.
        failed = [r for r in records if getattr(r, "error", None) is not None]
        if healthy:  # a batch of failures passes through without loading a model for nothing
            yield from self._costed(healthy)
        for r in failed:
            yield r if type(r) is self.output_type else extend(self.output_type, r)

    def _costed(self, records: list[Any]) -> Iterator[Any]:
        """The outputs of healthy records, each with what the stage spent since the one before (the first:
        the set-up too); the time a consumer takes between two outputs is not counted."""
        cpu, wall = cpu_seconds(), time.monotonic()
        self.ensure_setup()
        for record in self.process_batch(records):
            gpu = (time.monotonic() - wall) * self.resources.num_gpus
            record.costs = [*record.costs, StageCost(self.name, max(cpu_seconds() - cpu, 0), gpu)]
            yield record
            cpu, wall = cpu_seconds(), time.monotonic()

    def __call__(self, records: list[Any]) -> list[Any]:
        return list(self.stream(records))


def cpu_seconds() -> float:
    """CPU time used so far by this process and its live children: a stage's PDF worker and its engine's
    processes are counted with it. (In the local runner all stages share one process and its children.)"""
    total = 0.0
    process = psutil.Process()
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.Error:  # ended meanwhile
            continue
        total += times.user + times.system
    return total
