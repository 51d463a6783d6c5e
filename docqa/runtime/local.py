"""Run the stages in a plain loop, in this process: for debugging and tests. Gives the same rows as Ray."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import pyarrow as pa

from docqa.records import to_table
from docqa.runtime.plan import StagePlan
from docqa.runtime.stage import Stage


def _apply(stage: Stage, records: Iterable) -> Iterator:
    records = iter(records)
    while batch := list(islice(records, stage.resources.batch_size)):
        yield from stage.stream(batch)


def run_local(plan: StagePlan, inputs: list[Any]) -> Iterator[pa.Table]:
    """The outputs of the plan's last stage for `inputs`, one a table, each as soon as it is made."""
    records: Iterable = inputs
    for stage in plan.stages:
        records = _apply(stage, records)
    for record in records:
        yield to_table(plan.stages[-1].output_type, [record])
