"""Resumable runs: every input unit's results are committed atomically, and a restarted run skips them.

An input unit is the unit of work: a tar shard, or a group of consecutive PDFs (see Grouping). Workers,
not the driver, write a unit's finished records: the last stage (`WriteParts`) writes each batch's
windows, one file per unit, to `parts/<unit>/<random>.parquet` (under a temporary name, then renamed) and
hands on only a small `Receipt` per window, so no page image passes through the driver. The driver
commits a unit from the receipts alone, once all its records have arrived, by writing
`units/<unit>.json` (temporary name, then rename): the part files that hold the unit's records and which
`unit_index` values to take from each. The rename is the done marker. `read_committed` reads a committed
unit back from its part files; it is how everything downstream reads them.

A run killed at any point leaves committed units, part files and perhaps a torn marker or part (under a
temporary name); the next run with the same settings removes what no committed unit uses (torn files, the
parts of uncommitted units, parts a retried task wrote twice) and processes only the units not yet
committed. The dataset is then assembled from the committed units in input order, so a resumed run writes
the same rows as an uninterrupted one. The work folder sits beside the output (on a filesystem every Ray
node sees, for a cluster), is keyed by everything that shapes the rows (`run_key`), carries the pipeline's
mark (`docqa.output.publish.make_owned`), and is removed once the dataset is published.

Which unit. A unit's name is a hash of its inputs' paths and content identities, read when the run
starts: for a local file (a PDF or a tar shard) its size and modification time in nanoseconds; for a URL
what its filesystem's `info()` reports, the size and whichever version fields it has (etag, generation,
version id, modification or creation time). A file replaced between a killed run and its resume gives its
unit another name, so the unit's committed rows are not reused: the whole unit is redone, the other PDFs of
its group with it. An input whose identity cannot be read (a listing that failed) names its unit afresh on
every run, so that unit is always redone. Not noticed: a rewrite that keeps the size and sets the old
modification time back (`cp -p`, `touch -r`).

Grouping. A tar shard is a unit of its own. Consecutive PDFs (in input order, a shard ends a group) are
grouped up to `run.unit_max_documents` PDFs and `run.unit_max_mb` of files, but a run of few PDFs is cut
into about `run.unit_min_count` units, so that it still commits as it goes (with the default 100, a run of
100 PDFs or fewer has a unit per PDF). The driver schedules, names and counts groups, not documents: one Ray block per unit, one receipt
table per block of windows. What a group costs: a kill loses all the work of its uncommitted groups, a
replaced member redoes its whole group, and adding or removing inputs between a kill and its resume
regroups the PDFs after the change (all of them when the count per unit changes with the run's size),
which are then redone.

When a unit is complete. The load stage stamps each record with its unit, its place among the unit's
records (`unit_index` 0, 1, ..., across all documents of a group) and marks the unit's last record
(`unit_last`) once it has read the whole unit, so no count has to be known in advance. Receipts arrive in
any order (Ray hands over blocks as they finish); a unit commits once its last record and every index
below it have arrived, and a record delivered twice (a retried task writes another part) is taken once.
The mark is a field of a real record, so nothing but the unit's own records reaches the dataset, the
rejects or the statistics. A shard read as a stream: the load stage holds back one record and emits it
when the next is read, marking it last when the stream ends.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from docqa.config import Config
from docqa.generate.prompts import PromptTemplate
from docqa.ingest.sources import is_tar, is_url
from docqa.output.publish import sibling
from docqa.records import AnnotatedWindow, InputUnit, Receipt, from_table, to_table
from docqa.runtime.faults import SystemicFault
from docqa.runtime.stage import Resources, Stage

# Fields of fsspec's info() that change when an object is replaced, across s3fs, gcsfs, hf, http, memory.
_VERSION_FIELDS = (
    "etag", "ETag", "generation", "VersionId", "version_id", "md5Hash", "blob_id",
    "mtime", "LastModified", "last_modified", "updated", "created",
)  # fmt: skip


def run_key(config: Config, templates: list[PromptTemplate]) -> str:
    """Hash of the settings that shape the rows: not where inputs or outputs live, nor how it is run."""
    # Work units hold full paths; `source_paths` applies only when the dataset is written from them.
    ignored = {"input": {"paths", "sample_dir"}, "output": {"dir", "staging_dir", "overwrite", "source_paths"}, "run": True}
    shaping = config.model_dump(mode="json", exclude=ignored)
    shaping["prompt_files"] = sorted(t.sha256 for t in templates)
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def work_root(output_dir: str | Path) -> Path:
    return sibling(Path(output_dir), "work")


def content_identity(source: str) -> dict[str, Any] | None:
    """What tells this version of `source` from a replaced one, without reading it; None if unknown."""
    try:
        if not is_url(source):
            stat = os.stat(source)
            return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        fs, path = fsspec.core.url_to_fs(source)
        info = fs.info(path)
    except Exception:  # gone, unreachable, no permission: the load stage will say why, as a reject
        return None
    return {"size": info.get("size"), **{k: str(info[k]) for k in _VERSION_FIELDS if info.get(k) is not None}}


def unit_name(members: list[tuple[str, dict[str, Any] | None]]) -> str:
    """The name of the unit of these (input, content identity) pairs."""
    key = [[source, identity if identity is not None else uuid.uuid4().hex] for source, identity in members]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def group_units(
    sources: list[str], identities: list[dict[str, Any] | None], max_documents: int, max_mb: float, min_units: int
) -> list[InputUnit]:
    """The run's inputs cut into units, in input order (see Grouping in the module docstring)."""
    pdfs = sum(not is_tar(s) for s in sources)
    per_unit = max(1, min(max_documents, math.ceil(pdfs / min_units)))
    groups: list[list[tuple[str, dict[str, Any] | None]]] = []
    group_mb = 0.0
    for source, identity in zip(sources, identities):
        mb = ((identity or {}).get("size") or 0) / 1e6
        last = groups[-1] if groups else None
        if not last or is_tar(source) or is_tar(last[0][0]) or len(last) == per_unit or group_mb + mb > max_mb:
            groups.append([])
            group_mb = 0.0
        groups[-1].append((source, identity))
        group_mb += mb
    return [InputUnit(unit_name(group), [source for source, _ in group]) for group in groups]


class WriteParts(Stage):
    """The last stage: writes finished windows to part files of the work folder, one per unit in each batch,
    and hands on their receipts only. Failed windows too: they are the rejects."""

    name = "write"
    input_type = AnnotatedWindow
    output_type = Receipt

    def __init__(self, work_dir: Path, batch_size: int):
        self.work_dir = str(work_dir)
        self.resources = Resources(batch_size=batch_size, num_cpus=0.1)

    def stream(self, records: list[AnnotatedWindow]) -> Iterator[Receipt]:
        by_unit: dict[str, list[AnnotatedWindow]] = {}
        for window in records:
            by_unit.setdefault(window.unit, []).append(window)
        for unit, windows in by_unit.items():
            part = f"parts/{unit}/{uuid.uuid4().hex}.parquet"
            path = Path(self.work_dir) / part
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, partial(pq.write_table, to_table(AnnotatedWindow, windows)))
            for w in windows:
                kept, dropped = len(w.qa), len(w.dropped)
                yield Receipt(w.unit, w.unit_index, w.unit_last, part, w.source_path, w.error, kept, dropped)


def _write_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """`write` to a temporary name, then rename: a reader (a resumed run) sees the whole file or none, and a
    kill leaves only the temporary name, `.<name>.tmp`, behind."""
    temporary = path.with_name(f".{path.name}.tmp")
    write(temporary)
    os.replace(temporary, path)


@dataclass
class _Arriving:
    """What the driver knows of a unit not yet committed, from its receipts."""

    parts: dict[str, list[int]] = field(default_factory=dict)  # part file -> unit_index values taken from it
    arrived: set[int] = field(default_factory=set)
    size: int = 0  # records in the unit, known once its last record has arrived


class UnitStore:
    """The committed units of one run's inputs, `sources`, cut into units (`group_units`)."""

    def __init__(
        self, work_dir: Path, sources: list[str], max_documents: int = 1, max_mb: float = math.inf, min_units: int = 100
    ):
        self.work_dir = work_dir
        self.done_dir = work_dir / "units"
        self.parts_dir = work_dir / "parts"
        self.done_dir.mkdir(parents=True, exist_ok=True)
        self.parts_dir.mkdir(exist_ok=True)
        self.sources = sources
        with ThreadPoolExecutor(max_workers=16) as pool:  # one request each for remote inputs
            identities = list(pool.map(content_identity, sources))
            self.units = group_units(sources, identities, max_documents, max_mb, min_units)
            for torn in self.done_dir.glob(".*.tmp"):  # a commit cut short by a kill: its unit is redone
                torn.unlink()
            self._committed = {p.name.removesuffix(".json") for p in self.done_dir.glob("*.json")}
            list(pool.map(self._remove_unused_parts, list(self.parts_dir.iterdir())))
        self._inputs = {u.name: len(u.sources) for u in self.units}
        self._open: dict[str, _Arriving] = {}  # by unit name

    def _remove_unused_parts(self, folder: Path) -> None:
        """Removes the files in a unit's parts folder that its commit does not list (all, if uncommitted)."""
        if folder.name not in self._committed:
            shutil.rmtree(folder)
            return
        used = _marker(self.work_dir, folder.name)
        for file in folder.iterdir():
            if f"parts/{folder.name}/{file.name}" not in used:
                file.unlink()

    def pending(self) -> list[InputUnit]:
        """The units whose records have not all been committed, in input order."""
        return [u for u in self.units if u.name not in self._committed]

    def add(self, receipts: pa.Table) -> int:
        """Take note of records written to part files (a table of `Receipt`s), commit each unit that this
        completes, and return how many inputs those units hold."""
        for unit, index in zip(*_columns(receipts.filter(receipts["unit_last"]), "unit", "unit_index")):
            if unit not in self._committed:
                self._open.setdefault(unit, _Arriving()).size = index + 1
        by_part = receipts.group_by(["unit", "part"], use_threads=False).aggregate([("unit_index", "list")])
        touched = set()
        for unit, part, indexes in zip(*_columns(by_part, "unit", "part", "unit_index_list")):
            if unit in self._committed:
                continue  # delivered again after its unit committed
            arriving = self._open.setdefault(unit, _Arriving())
            new = set(indexes) - arriving.arrived  # a record delivered twice is taken from its first part
            if new:
                arriving.arrived |= new
                arriving.parts.setdefault(part, []).extend(new)
                touched.add(unit)
        inputs = 0
        for unit in touched:
            arriving = self._open[unit]
            if len(arriving.arrived) == arriving.size:
                self._check_visible(arriving.parts)
                marker = json.dumps({"parts": {part: sorted(i) for part, i in arriving.parts.items()}})
                _write_atomically(self.done_dir / f"{unit}.json", partial(Path.write_text, data=marker))
                self._committed.add(unit)
                del self._open[unit]
                inputs += self._inputs[unit]
        return inputs

    def _check_visible(self, parts: dict[str, list[int]]) -> None:
        """A worker on another node wrote the part to its own disk: the unit could never be read back here."""
        for part in parts:
            if not (self.work_dir / part).exists():
                raise SystemicFault(
                    f"a part file a worker wrote, {self.work_dir / part}, is not visible to this process; put the "
                    "output (or output.staging_dir, for a URL output) on a filesystem every Ray node sees"
                )

    def committed(self) -> list[InputUnit]:
        """Every committed unit of this run, in input order: its inputs, and the name `read_committed` reads
        it by, in any process that sees the work folder."""
        return [u for u in self.units if u.name in self._committed]

    def read(self, name: str) -> list[AnnotatedWindow]:
        return from_table(AnnotatedWindow, read_committed(self.work_dir, name))


def _columns(table: pa.Table, *names: str) -> list[list[Any]]:
    return [table[name].to_pylist() for name in names]


def _marker(work_dir: Path, name: str) -> dict[str, list[int]]:
    """The part files of the committed unit `name`, each with the unit_index values taken from it."""
    return json.loads((work_dir / "units" / f"{name}.json").read_text())["parts"]


def read_committed(work_dir: Path, name: str, columns: list[str] | None = None) -> pa.Table:
    """The records of the committed unit `name` in the run's work folder `work_dir`, each once, in the order
    the unit produced them; `columns` reads only those, and unit_index."""
    wanted = None if columns is None else sorted({*columns, "unit_index"})
    tables = []
    for part, indexes in _marker(work_dir, name).items():
        table = pq.read_table(work_dir / part, columns=wanted)
        if len(table) != len(indexes):  # some of its records were taken from a part written earlier
            table = table.filter(pc.is_in(table["unit_index"], value_set=pa.array(indexes, pa.int64())))
        tables.append(table)
    return pa.concat_tables(tables).sort_by("unit_index")
