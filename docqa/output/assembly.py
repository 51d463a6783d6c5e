"""Assembling the dataset from the committed work units, with no step that needs every row in one process.

Once every input is committed (`docqa.runtime.units`):

1. documents: each unit's documents are keyed (`docqa.quality.dedup.document_keys`), the keys grouped and
   each group checked: copies of a document under a later path, and near-copy documents;
2. QA pairs: each unit's pairs, but those of copies, are keyed (`pair_keys`), grouped and checked: pairs
   said again, and pairs near each other;
3. what the groups found, few rows, is settled here (`DedupDecisions`): near-copy groups, pairs to drop;
4. contiguous ranges of units are written side by side as parts (`write_part`), each applying the
   decisions to its units' records, images included, and keeping its own statistics;
5. `docqa.output.writer.finish_dataset` names the parts' files, adds up their statistics and publishes.

This process reads no image and no pair; it schedules, and holds what the groups found. How the steps run
is an `Assembler`'s business: in this process (`docqa.runtime.local.LocalAssembler`) or on Ray
(`docqa.runtime.ray_dag.RayAssembler`); both give the same rows, splits and drops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from docqa.output.writer import PartWriter, PartWritten, WriteSettings, open_staging
from docqa.quality.dedup import (
    DOCUMENT_COLUMNS,
    PAIR_COLUMNS,
    DedupDecisions,
    UnitDecisions,
    document_keys,
    document_links,
    pair_keys,
    pair_links,
)
from docqa.records import AnnotatedWindow, InputUnit, from_table
from docqa.runtime.units import read_committed


@dataclass(frozen=True)
class Unit:
    """A committed work unit: its place among the units, its inputs, the name its records are read by."""

    position: int
    sources: list[str]
    name: str


class Assembler(Protocol):
    parts: int  # parts written side by side (at most one per unit)

    def links(
        self, units: list[Unit], keys_of: Callable[[Unit], pa.Table], check: Callable[[pa.Table], pa.Table]
    ) -> Iterator[pa.Table]:
        """`check` applied to the rows of each key of the units' keyed rows (`keys_of`), in any order."""
        ...

    def write(self, parts: list[Callable[[], PartWritten]]) -> list[PartWritten]:
        """Each part written, the results in the order given."""
        ...


def unit_document_keys(work_dir: Path, unit: Unit) -> pa.Table:
    return document_keys(read_committed(work_dir, unit.name, DOCUMENT_COLUMNS), unit.position)


def unit_pair_keys(work_dir: Path, copies: dict[int, dict[tuple[str, str], str]], near: bool, unit: Unit) -> pa.Table:
    records = read_committed(work_dir, unit.name, PAIR_COLUMNS)
    return pair_keys(records, unit.position, copies.get(unit.position, {}), near)


def write_part(
    work_dir: Path, staging: Path, settings: WriteSettings, part: int, units: list[Unit], decisions: dict[int, UnitDecisions]
) -> PartWritten:
    """One part of the dataset: `units`' records, in order, with the deduplication's `decisions` applied."""
    writer = PartWriter(staging, part, settings)
    for unit in units:
        decided = decisions.get(unit.position, UnitDecisions())
        writer.add([decided.apply(w) for w in from_table(AnnotatedWindow, read_committed(work_dir, unit.name))])
    return writer.close([source for unit in units for source in unit.sources])


def write_dataset_parts(
    assembler: Assembler,
    work_dir: Path,
    committed: list[InputUnit],
    out_dir: Path,
    settings: WriteSettings,
    near_duplicate_jaccard: float | None,
    split_near_duplicate_jaccard: float,
) -> tuple[Path, list[PartWritten]]:
    """Deduplicate and write the units `committed` (in input order, as `UnitStore.committed` lists them) into
    a staging folder beside `out_dir`; returns it and the parts written, in input order, for `finish_dataset`."""
    units = [Unit(position, unit.sources, unit.name) for position, unit in enumerate(committed)]
    decisions = DedupDecisions()
    decisions.add(assembler.links(units, partial(unit_document_keys, work_dir),
                                  partial(document_links, threshold=split_near_duplicate_jaccard)))  # fmt: skip
    near = near_duplicate_jaccard is not None
    decisions.add(assembler.links(units, partial(unit_pair_keys, work_dir, dict(decisions.copies), near),
                                  partial(pair_links, threshold=near_duplicate_jaccard)))  # fmt: skip
    decisions.settle_pairs()
    staging = open_staging(out_dir)
    settings = replace(settings, groups=decisions.groups())
    ranges = _ranges(len(units), max(1, min(assembler.parts, len(units))))
    jobs = [
        partial(write_part, work_dir, staging, settings, part, units[start:end], decisions.within(start, end))
        for part, (start, end) in enumerate(ranges)
    ]
    return staging, assembler.write(jobs)


def _ranges(count: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous ranges covering 0..count, their sizes differing by one at most."""
    bounds = [count * i // parts for i in range(parts + 1)]
    return list(pairwise(bounds))
