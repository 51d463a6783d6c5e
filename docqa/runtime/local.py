"""Run the stages in a plain loop, in this process: for debugging and tests. Gives the same rows as Ray."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

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
