"""Run the stages in a plain loop, in this process, and assemble the dataset here too: for debugging and
tests. Gives the same rows as Ray."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import pyarrow as pa

from docqa.output.assembly import Unit
from docqa.output.writer import PartWritten
from docqa.quality.dedup import group_by_key
from docqa.records import AnnotatedWindow, SourceDocument
from docqa.runtime.plan import StagePlan
from docqa.runtime.stage import Stage


def _apply(stage: Stage, records: Iterable) -> Iterator:
    records = iter(records)
    while batch := list(islice(records, stage.resources.batch_size)):
        yield from stage.stream(batch)


def run_local(plan: StagePlan, sources: list[str]) -> Iterator[list[AnnotatedWindow]]:
    records: Iterable = (SourceDocument(path) for path in sources)
    for stage in plan.stages:
        records = _apply(stage, records)
    for record in records:
        yield [record]


class LocalAssembler:
    """The assembly's steps in this process (`docqa.output.assembly`): keys grouped by a dict, one part."""

    parts = 1

    def links(
        self, units: list[Unit], keys_of: Callable[[Unit], pa.Table], check: Callable[[pa.Table], pa.Table]
    ) -> Iterator[pa.Table]:
        return group_by_key(map(keys_of, units), check)

    def write(self, parts: list[Callable[[], PartWritten]]) -> list[PartWritten]:
        return [part() for part in parts]
