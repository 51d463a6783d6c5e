"""Run the stages in a plain loop, in this process, and assemble the dataset here too: for debugging and
tests. Gives the same rows as Ray.

A stage with `process_batch_async` (the LLM engine) is handed `batches_in_flight` batches at once, as
Ray hands them to its actor: while the next batches are read from the stages before it, the engine
works on those already handed over. Outputs keep the input order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import pyarrow as pa

from docqa.output.assembly import Unit
from docqa.output.writer import PartWritten
from docqa.quality.dedup import group_by_key
from docqa.records import to_table
from docqa.runtime.plan import StagePlan
from docqa.runtime.stage import Stage


def _apply(stage: Stage, records: Iterable) -> Iterator:
    records = iter(records)
    if stage.is_async:
        yield from _apply_overlapped(stage, records)
        return
    while batch := list(islice(records, stage.resources.batch_size)):
        yield from stage.stream(batch)


def _apply_overlapped(stage: Stage, records: Iterator) -> Iterator:
    loop = asyncio.new_event_loop()
    in_flight: deque[asyncio.Task] = deque()
    try:
        while True:
            while len(in_flight) < stage.resources.batches_in_flight and (
                batch := list(islice(records, stage.resources.batch_size))
            ):
                in_flight.append(loop.create_task(stage.stream_async(batch)))
                loop.run_until_complete(asyncio.sleep(0))  # the batch's requests start now, not at the next wait
            if not in_flight:
                return
            yield from loop.run_until_complete(in_flight.popleft())
    finally:
        for task in in_flight:
            task.cancel()
        if in_flight:
            loop.run_until_complete(asyncio.gather(*in_flight, return_exceptions=True))
        loop.close()


def run_local(plan: StagePlan, inputs: list[Any]) -> Iterator[pa.Table]:
    """The outputs of the plan's last stage for `inputs`, one a table, each as soon as it is made."""
    records: Iterable = inputs
    for stage in plan.stages:
        records = _apply(stage, records)
    for record in records:
        yield to_table(plan.stages[-1].output_type, [record])


class LocalAssembler:
    """The assembly's steps in this process (`docqa.output.assembly`): keys grouped by a dict, one part."""

    parts = 1

    def links(
        self, units: list[Unit], keys_of: Callable[[Unit], pa.Table], check: Callable[[pa.Table], pa.Table]
    ) -> Iterator[pa.Table]:
        return group_by_key(map(keys_of, units), check)

    def write(self, parts: list[Callable[[], PartWritten]]) -> list[PartWritten]:
        return [part() for part in parts]
