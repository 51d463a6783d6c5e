"""Run the stages in a plain loop, in this process: for debugging and tests. Gives the same rows as Ray."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from pipeline.plan import StagePlan
from pipeline.records import AnnotatedWindow, SourceDocument
from pipeline.stages.base import Stage


def _apply(stage: Stage, records: Iterable, batch_size: int) -> Iterator:
    records = iter(records)
    while batch := list(islice(records, batch_size)):
        yield from stage(batch)


def run_local(plan: StagePlan, sources: list[str]) -> Iterator[list[AnnotatedWindow]]:
    records: Iterable = (SourceDocument(path) for path in sources)
    for step in plan.steps:
        records = _apply(step.stage, records, step.batch_size)
    for record in records:
        yield [record]
