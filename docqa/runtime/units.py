"""Resumable runs: every input unit's results are committed atomically, and a restarted run skips them.

An input unit (a PDF or a tar shard) is the unit of work. Its finished records stream into
`partial/<name>.parquet` as they arrive; once all of them have arrived the file is renamed to
`units/<name>.parquet`: the rename is the done marker. A run killed at any point leaves complete units
and partial files; the next run with the same settings discards the partial files and processes only
the units not yet committed. The dataset is then assembled from the unit files in input order, so a
resumed run writes the same rows as an uninterrupted one. The work folder sits beside the output, is
keyed by everything that shapes the rows (`run_key`), carries the pipeline's mark
(`docqa.output.publish.make_owned`), and is removed once the dataset is published.

Which unit. A unit's name is a hash of its path and of its content's identity, read when the run starts:
for a local file (a PDF or a tar shard) its size and modification time in nanoseconds; for a URL what
its filesystem's `info()` reports, the size and whichever version fields it has (etag, generation,
version id, modification or creation time). A file replaced between a killed run and its resume has
another name, so its committed rows are not reused: it is redone. A unit whose identity cannot be read
(a listing that failed) is named afresh on every run, so it is always redone. Not noticed: a rewrite
that keeps the size and sets the old modification time back (`cp -p`, `touch -r`).

When a unit is complete. The load stage stamps each record with its unit, its place among the unit's
records (`unit_index` 0, 1, ...) and marks the unit's last record (`unit_last`) once it has read the
whole unit, so no count has to be known in advance. Records arrive here in any order (Ray hands over
blocks as they finish); a unit commits once its last record and every index below it have arrived, and
a record delivered twice (a retried task) is written once. The mark is a field of a real record, so
nothing but the unit's own records reaches the dataset, the rejects or the statistics.

The same rule holds for larger units. A shard read as a stream: the load stage holds back one record
and emits it when the next is read, marking it last when the stream ends. Many PDFs grouped into one
unit: the group is what the driver schedules and names (its members' identities hashed together), the
load stage numbers the records of the whole group, and `unit` names the group, not a document.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from docqa.config import Config
from docqa.generate.prompts import PromptTemplate
from docqa.ingest.sources import is_url
from docqa.output.publish import sibling
from docqa.records import AnnotatedWindow, arrow_schema, from_table, to_table

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


def unit_name(source: str, identity: dict[str, Any] | None) -> str:
    """The file name of a unit's committed records."""
    key = [source, identity if identity is not None else uuid.uuid4().hex]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32] + ".parquet"


@dataclass
class _Partial:
    writer: pq.ParquetWriter
    arrived: set[int] = field(default_factory=set)  # unit_index of each record written
    size: int = 0  # records in the unit, known once its last record has arrived


class UnitStore:
    """The committed units of one run's inputs, `sources`, each named by its path and content identity."""

    def __init__(self, work_dir: Path, sources: list[str]):
        self.done_dir = work_dir / "units"
        self.partial_dir = work_dir / "partial"
        shutil.rmtree(self.partial_dir, ignore_errors=True)  # left by a killed run: never committed
        self.done_dir.mkdir(parents=True, exist_ok=True)
        self.partial_dir.mkdir()
        self.sources = sources
        with ThreadPoolExecutor(max_workers=16) as pool:  # one request each for remote inputs
            self._names = dict(zip(sources, map(unit_name, sources, pool.map(content_identity, sources))))
        self._committed = {p.name for p in self.done_dir.iterdir()}
        self._open: dict[str, _Partial] = {}  # by unit

    def is_done(self, unit: str) -> bool:
        return self._names[unit] in self._committed

    def pending(self) -> list[str]:
        """The inputs whose records have not all been committed, in input order."""
        return [s for s in self.sources if not self.is_done(s)]

    def add(self, windows: list[AnnotatedWindow]) -> int:
        """Append finished records to their units; returns how many units this completed."""
        completed = 0
        for window in windows:
            name = self._names[window.unit]
            partial = self._open.get(window.unit)
            if name in self._committed or (partial and window.unit_index in partial.arrived):
                continue  # delivered again: it is written already
            if partial is None:
                writer = pq.ParquetWriter(self.partial_dir / name, arrow_schema(AnnotatedWindow))
                partial = self._open[window.unit] = _Partial(writer)
            partial.writer.write_table(to_table(AnnotatedWindow, [window]))
            partial.arrived.add(window.unit_index)
            if window.unit_last:
                partial.size = window.unit_index + 1
            if len(partial.arrived) == partial.size:
                partial.writer.close()
                del self._open[window.unit]
                (self.partial_dir / name).rename(self.done_dir / name)
                self._committed.add(name)
                completed += 1
        return completed

    def committed(self) -> list[tuple[str, str]]:
        """(input, unit name) of every committed unit, in input order: what `read_committed` reads, in any
        process that sees the work folder."""
        return [(s, self._names[s]) for s in self.sources if self.is_done(s)]

    def read(self, unit: str) -> list[AnnotatedWindow]:
        return from_table(AnnotatedWindow, read_committed(self.done_dir.parent, self._names[unit]))

    def document_texts(self, unit: str) -> dict[str, str]:
        """The page texts of the unit's documents that reached the dataset stage, by doc_id, without
        reading their images."""
        table = read_committed(self.done_dir.parent, self._names[unit], columns=["doc_id", "window", "texts", "error"])
        texts: dict[str, list[tuple[int, str]]] = {}
        for row in table.to_pylist():
            if row["error"] is None:
                texts.setdefault(row["doc_id"], []).append((row["window"], "\n".join(row["texts"])))
        return {doc_id: "\n".join(text for _, text in sorted(parts)) for doc_id, parts in texts.items()}


def read_committed(work_dir: Path, name: str, columns: list[str] | None = None) -> pa.Table:
    """The records of the committed unit `name` in the run's work folder `work_dir`, each once, in the order
    the unit produced them; `columns` reads only those, and unit_index."""
    wanted = None if columns is None else sorted({*columns, "unit_index"})
    return pq.read_table(work_dir / "units" / name, columns=wanted).sort_by("unit_index")
