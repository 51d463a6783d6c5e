"""The stage contract: a batch of records in, a batch of records out. No Ray in here.

A stage declares its input and output record types and the resources it needs (`Resources`, read by
the runners), does its heavy set-up in `setup()` (so it pickles
cheaply and Ray can ship it), and processes records one at a time in `process()` (0..N outputs each), or
a whole batch at once by overriding `process_batch()` (the LLM engine does). Records that already carry
an error are passed through. A stage that knows why a record failed returns `self.fail(record, kind,
reason)`. An exception a library raises for one record becomes that record's `Failure` (kind
`library_error`); a `SystemicFault`, a bug in our own code (`docqa.runtime.faults.is_bug`) and any
failure of a whole batch stop the run. Each output carries what producing it cost the stage (`costs`):
CPU seconds and GPU seconds (wall time x the GPUs the stage reserves), see `CostMeter`.

A stage that waits on something else doing the work (an LLM engine, a server) overrides
`process_batch_async()` instead, and declares how many batches each worker keeps in flight
(`Resources.batches_in_flight`): the runners then hand it that many batches at once (`stream_async()`),
so the engine is given the next batch's requests while it still works on the last one's. Called
synchronously (`stage(records)`), such a stage runs one batch to its end.

`process()` may return a list or yield its outputs one at a time; the runners consume a stage through
`stream()`, so a record that expands to many (a tar shard to its documents' windows) is never held whole.
Outputs yielded before an exception stand; the record's error follows them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
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
    batches_in_flight: int = 1  # batches one worker processes at once (a stage with `process_batch_async`)


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
        if self.is_async:
            return asyncio.run(self.process_batch_async(records))
        return self._process_each(records)

    def _process_each(self, records: list[Any]) -> Iterator[Any]:
        for record in records:
            try:
                yield from self.process(record)
            except Exception as exc:
                if stops_the_run(exc):
                    raise
                # A library choked on this record's data: one bad record must not stop the run.
                yield self.fail(record, "library_error", f"{type(exc).__name__}: {exc}")

    async def process_batch_async(self, records: list[Any]) -> list[Any]:
        """Overridden by a stage whose batches can overlap; it must not block (it runs in the runner's event loop)."""
        raise NotImplementedError

    @property
    def is_async(self) -> bool:
        return type(self).process_batch_async is not Stage.process_batch_async

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
        healthy, failed = self._split(records)
        if healthy:  # a batch of failures passes through without loading a model for nothing
            yield from self._costed(healthy)
        yield from failed

    async def stream_async(self, records: list[Any]) -> list[Any]:
        """`stream()` for a stage with `process_batch_async`, several batches of which may be in flight at once."""
        healthy, failed = self._split(records)
        outputs = []
        if healthy:
            async with self._batch_slot():
                self._meter().started()
                self.ensure_setup()  # blocks the event loop once, while the model loads: nothing else could run
                try:
                    outputs = await self.process_batch_async(healthy)
                finally:
                    self._meter().share(self.name, outputs)
        return outputs + failed

    def _batch_slot(self) -> asyncio.Semaphore:
        """At most `batches_in_flight` batches at once in this worker's event loop, however the runner calls."""
        loop = asyncio.get_running_loop()
        if self.__dict__.get("_slots_loop") is not loop:
            self._slots_loop, self._slots = loop, asyncio.Semaphore(self.resources.batches_in_flight)
        return self._slots

    def _split(self, records: list[Any]) -> tuple[list[Any], list[Any]]:
        healthy = [r for r in records if getattr(r, "error", None) is None]
        # Taken before processing: a stage whose output type is its input type fails a record in place.
        failed = [r for r in records if getattr(r, "error", None) is not None]
        return healthy, [r if type(r) is self.output_type else extend(self.output_type, r) for r in failed]

    def _costed(self, records: list[Any]) -> Iterator[Any]:
        """The outputs of healthy records, metered in pieces of `batch_size` outputs (a stage that expands a
        record to many streams them, never holding more than a piece); the time a consumer takes between
        two pieces is not counted."""
        meter = self._meter()
        meter.started()
        self.ensure_setup()
        outputs = iter(self.process_batch(records))
        while piece := list(islice(outputs, self.resources.batch_size)):
            meter.share(self.name, piece)
            yield from piece
            meter.started()
        meter.share(self.name, [])  # the generator's end after the last piece: nothing to measure

    def _meter(self) -> CostMeter:
        if "_cost_meter" not in self.__dict__:
            self._cost_meter = CostMeter(self.resources.num_gpus)
        return self._cost_meter

    def __call__(self, records: list[Any]) -> list[Any]:
        return list(self.stream(records))


class CostMeter:
    """What a stage spends, measured twice per batch (not per record: reading the CPU time of a process
    tree costs about a millisecond).

    A batch's outputs share evenly the CPU seconds (`cpu_seconds()`: the stage's process and its children)
    and GPU seconds (wall time x the GPUs reserved) spent since the stage last handed outputs over, or
    since it went from idle to busy: time with no batch in flight is not counted. When batches overlap in
    one worker (`stream_async`), each batch that ends takes what was spent since the previous one ended, so
    no second is counted twice and the sum over all outputs is what the worker spent while busy. (In the
    local runner all stages share one process and its children, so a stage's figure includes what the
    others' children, such as the engine, did meanwhile.)
    """

    def __init__(self, num_gpus: float):
        self.num_gpus = num_gpus
        self.in_flight = 0
        self.cpu = self.wall = 0.0

    def started(self) -> None:
        if not self.in_flight:
            self.cpu, self.wall = cpu_seconds(), time.monotonic()
        self.in_flight += 1

    def share(self, stage: str, outputs: list[Any]) -> None:
        """Ends one batch (or piece), giving each of its outputs an even share of the cost since the last mark;
        a batch with no output leaves that cost to the next batch that ends while this one was in flight."""
        self.in_flight -= 1
        if not outputs:
            return
        cpu, wall = cpu_seconds(), time.monotonic()
        spent_cpu, spent_gpu = max(cpu - self.cpu, 0.0), (wall - self.wall) * self.num_gpus
        self.cpu, self.wall = cpu, wall
        for record in outputs:
            record.costs = [*record.costs, StageCost(stage, spent_cpu / len(outputs), spent_gpu / len(outputs))]


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
