"""Resumable runs: every input unit's results are committed atomically, and a restarted run skips them.

An input unit (a PDF or a tar shard) is the unit of work. Its finished records stream into
`partial/<unit>.parquet` as they arrive; when the last one arrives (the load stage stamps each record
with the number its unit produced) the file is renamed to `units/<unit>.parquet`: the rename is the
done marker. A run killed at any point leaves complete units and partial files; the next run with the
same settings discards the partial files and processes only the units not yet committed. The dataset is
then assembled from the unit files in input order, so a resumed run writes the same rows as an
uninterrupted one. The work folder sits beside the output, is keyed by everything that shapes the rows
(`run_key`), carries the pipeline's mark (`docqa.output.publish.make_owned`), and is removed once the
dataset is published.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from docqa.config import Config
from docqa.generate.prompts import PromptTemplate
from docqa.ingest.sources import source_of
from docqa.output.publish import sibling
from docqa.records import AnnotatedWindow, arrow_schema, from_table, to_table


def run_key(config: Config, templates: list[PromptTemplate]) -> str:
    """Hash of the settings that shape the rows: not where inputs or outputs live, nor how it is run."""
    # Work units hold full paths; `source_paths` applies only when the dataset is written from them.
    ignored = {"input": {"paths", "sample_dir"}, "output": {"dir", "staging_dir", "overwrite", "source_paths"}, "run": True}
    shaping = config.model_dump(mode="json", exclude=ignored)
    shaping["prompt_files"] = sorted(t.sha256 for t in templates)
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def work_root(output_dir: str | Path) -> Path:
    return sibling(Path(output_dir), "work")


class UnitStore:
    def __init__(self, work_dir: Path):
        self.done_dir = work_dir / "units"
        self.partial_dir = work_dir / "partial"
        shutil.rmtree(self.partial_dir, ignore_errors=True)  # left by a killed run: never committed
        self.done_dir.mkdir(parents=True, exist_ok=True)
        self.partial_dir.mkdir()
        self._open: dict[str, tuple[pq.ParquetWriter, int]] = {}  # unit -> (writer, records written)

    def _name(self, unit: str) -> str:
        return hashlib.sha256(unit.encode()).hexdigest()[:32] + ".parquet"

    def is_done(self, unit: str) -> bool:
        return (self.done_dir / self._name(unit)).exists()

    def add(self, windows: list[AnnotatedWindow]) -> int:
        """Append finished records to their units; returns how many units this completed."""
        completed = 0
        for window in windows:
            unit = source_of(window.source_path)
            writer, written = self._open.get(unit) or (
                pq.ParquetWriter(self.partial_dir / self._name(unit), arrow_schema(AnnotatedWindow)),
                0,
            )
            writer.write_table(to_table(AnnotatedWindow, [window]))
            written += 1
            self._open[unit] = (writer, written)
            if written >= max(window.unit_records, 1):
                writer.close()
                del self._open[unit]
                (self.partial_dir / self._name(unit)).rename(self.done_dir / self._name(unit))
                completed += 1
        return completed

    def read(self, unit: str) -> list[AnnotatedWindow]:
        windows = from_table(AnnotatedWindow, pq.read_table(self.done_dir / self._name(unit)))
        return sorted(windows, key=lambda w: (w.source_path, w.window))

    def document_texts(self, unit: str) -> dict[str, str]:
        """The page texts of the unit's documents that reached the dataset stage, by doc_id, without
        reading their images."""
        table = pq.read_table(self.done_dir / self._name(unit), columns=["doc_id", "window", "texts", "error"])
        texts: dict[str, list[tuple[int, str]]] = {}
        for row in table.to_pylist():
            if row["error"] is None:
                texts.setdefault(row["doc_id"], []).append((row["window"], "\n".join(row["texts"])))
        return {doc_id: "\n".join(text for _, text in sorted(parts)) for doc_id, parts in texts.items()}

    def unfinished(self) -> list[str]:
        return sorted(self._open)
