"""The writer: annotated windows in, the dataset folder out. It only writes; every decision to drop a pair
or reject a window was made before (`docqa.quality`).

Layout of the output folder, readable by `datasets.load_dataset(<folder>)` with no custom code:

    data/train-00000-of-00001.parquet   examples: page images, QA texts, provenance
    rejects/rejects-00000.parquet       every document (or window) that produced no example: stage, kind, reason
    dropped/pairs-00000.parquet         every QA pair a filter or the deduplication dropped, and why
    report/*.png                        the quality report's plots, shown in the dataset card
    README.md                           dataset card; its YAML declares configs, splits and features
    stats.json                          counts for the run and the quality report
    config.yaml                         the resolved configuration
    .docqa-manifest.json                the files this run wrote and the pipeline's version

The Hugging Face features are stored in each shard's Arrow schema metadata, so `images` loads as a
list of `Image` and `texts` as a list of `{user, assistant, source, origin}` (Docmatix's, and what wrote the pair). A run writes into
a staging folder beside the output and swaps it in only when complete (`docqa.output.publish`): a crash
never leaves a half-written dataset where a good one was, and the publish removes only what an earlier
run of the pipeline wrote.

The dataset is written in parts, side by side (`PartWriter`, one per range of inputs, in any process that
sees the staging folder); `finish_dataset` then names the parts' files in input order (shards as the Hub
names them, rejects and dropped pairs numbered from 00000), adds up their statistics and writes the
metadata. `DatasetWriter` is the whole of it in one process, for windows already at hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from docqa.ingest.sources import source_of
from docqa.output.provenance import SourcePaths
from docqa.output.publish import make_owned, publish_folder, remove_owned, sibling, write_manifest
from docqa.output.report import write_plots
from docqa.output.schema import SPLITS, DroppedPairRow, RunInfo, dataset_row, reject_of
from docqa.output.shards import ShardSeries, name_for_the_hub, split_of
from docqa.output.stats import Stats
from docqa.records import AnnotatedWindow, Reject, arrow_schema


@dataclass
class WriteSettings:
    """How rows are written: what every row records about the run, shard and row-group bounds, the split.

    `groups` maps a doc_id to its group of near-copies (`docqa.quality.dedup.DedupDecisions.groups`); a
    document missing from it is its own group. `source_paths` turns a document's path into the form rows,
    rejects and dropped pairs record (default: the full path, made safe)."""

    run: RunInfo
    shard_max_rows: int
    row_group_rows: int
    test_fraction: float
    shard_max_mb: float = 500
    row_group_mb: float = 100
    groups: dict[str, str] = field(default_factory=dict)
    source_paths: SourcePaths = field(default_factory=SourcePaths)


@dataclass
class PartWritten:
    """What one part wrote into the staging folder: file names in row order, and its statistics."""

    shards: dict[str, list[str]]  # by split
    rejects: tuple[str, int]  # file name, rows
    dropped: tuple[str, int]
    stats: Stats


def open_staging(out_dir: Path) -> Path:
    """The empty folder beside `out_dir` where the parts are written (one a crashed run left is cleared)."""
    staging = sibling(out_dir, "partial")
    remove_owned(staging)  # never published
    make_owned(staging)
    for folder in ("data", "rejects", "dropped"):
        (staging / folder).mkdir()
    return staging


class PartWriter:
    """Writes the windows of one range of inputs, in order, into the staging folder: Parquet shards per
    split, its rejects and its dropped pairs, each file named after the part."""

    def __init__(self, staging: Path, part: int, settings: WriteSettings):
        self.staging, self.settings = staging, settings
        self.splits = {
            split: ShardSeries(staging / "data", split, part, settings.shard_max_rows, settings.row_group_rows,
                               settings.shard_max_mb, settings.row_group_mb)
            for split in SPLITS
        }  # fmt: skip
        self.rejects = _TableFile(staging / "rejects" / f"rejects-part{part:05d}.parquet", Reject)
        self.dropped = _TableFile(staging / "dropped" / f"pairs-part{part:05d}.parquet", DroppedPairRow)
        self.stats = Stats()
        self.in_dataset: set[str] = set()  # paths
        self.rejected: set[str] = set()

    def add(self, windows: list[AnnotatedWindow]) -> None:
        paths = self.settings.source_paths
        for window in windows:
            self.stats.add(window)
            path = paths(window.source_path)
            self.dropped.write([
                DroppedPairRow(window.doc_id, path, window.pages, d.question, d.answer, d.reason, d.support, d.about,
                               d.detail, d.origin)
                for d in window.dropped
            ])  # fmt: skip
            if window.error:
                self._reject(reject_of(window))
                continue
            self.in_dataset.add(window.source_path)
            split = split_of(self.settings.groups.get(window.doc_id, window.doc_id), self.settings.test_fraction)
            self.splits[split].add(dataset_row(window, self.settings.run, path))
            self.stats.examples_per_split[split] += 1

    def _reject(self, reject: Reject) -> None:
        self.rejected.add(reject.source_path)
        paths = self.settings.source_paths
        self.rejects.write([replace(reject, source_path=paths(reject.source_path), reason=paths.text(reject.reason, reject.source_path))])

    def close(self, sources: list[str]) -> PartWritten:
        """Finish the part's files, accounting for each of its inputs, `sources` (PDFs and tar shards; a
        document inside a shard is named `shard::member`, so a shard counts once any of its documents does)."""
        seen = {source_of(path) for path in self.in_dataset | self.rejected}
        for source in sources:
            if source not in seen:
                # Every input must be accounted for; reaching this is a bug, recorded rather than hidden.
                self._reject(Reject("", source, [], "pipeline", "input_lost", "input produced no output"))
        self.stats.documents_in_dataset = len(self.in_dataset)
        self.stats.documents_rejected = len(self.rejected - self.in_dataset)
        shards = {split: series.close() for split, series in self.splits.items()}
        return PartWritten(shards, self.rejects.close(), self.dropped.close(), self.stats)


class _TableFile:
    """A Parquet file of records of one type, written as they come."""

    def __init__(self, path: Path, record: type):
        self.path, self.schema = path, arrow_schema(record)
        self.writer = pq.ParquetWriter(path, self.schema)
        self.rows = 0

    def write(self, records: list[Any]) -> None:
        if records:
            self.writer.write_table(pa.Table.from_pylist([vars(r) for r in records], schema=self.schema))
            self.rows += len(records)

    def close(self) -> tuple[str, int]:
        self.writer.close()
        return self.path.name, self.rows


def finish_dataset(
    staging: Path,
    out_dir: Path,
    parts: list[PartWritten],
    inputs: int,
    config_yaml: str,
    render_card: Callable[[dict[str, Any]], str],
    extra_stats: Callable[[Stats], dict[str, Any]],
    overwrite: bool = False,
) -> dict[str, Any]:
    """Name the parts' files (given in input order), write the statistics, card, config and manifest, and
    publish the staging folder as `out_dir` (`overwrite`: see `docqa.output.publish`)."""
    stats = Stats(inputs=inputs)
    for part in parts:
        stats.merge(part.stats)
    shards = 0
    for split in SPLITS:
        names = [name for part in parts for name in part.shards[split]]
        name_for_the_hub(staging / "data", split, names)
        shards += len(names)
    _number(staging / "rejects", "rejects", [part.rejects for part in parts])
    _number(staging / "dropped", "pairs", [part.dropped for part in parts])
    written = {**summary(stats, shards), **extra_stats(stats), "quality": stats.quality()}
    write_plots(written["quality"], staging / "report")
    (staging / "stats.json").write_text(json.dumps(written, indent=2) + "\n")
    (staging / "config.yaml").write_text(config_yaml)
    (staging / "README.md").write_text(render_card(written))
    write_manifest(staging)
    publish_folder(staging, out_dir, overwrite)
    return written


def _number(folder: Path, stem: str, files: list[tuple[str, int]]) -> None:
    """Keep the files that hold rows (the first, empty, when none does), numbered from 00000 in order."""
    kept = [name for name, rows in files if rows] or [files[0][0]]
    for name, _ in files:
        if name not in kept:
            (folder / name).unlink()
    for i, name in enumerate(kept):
        (folder / name).rename(folder / f"{stem}-{i:05d}.parquet")


def summary(s: Stats, shards: int) -> dict[str, Any]:
    return {
        "inputs": s.inputs,
        "documents": s.documents_in_dataset + s.documents_rejected,
        "documents_in_dataset": s.documents_in_dataset,
        "documents_rejected": s.documents_rejected,
        "examples": s.windows_in_dataset,
        "examples_per_split": {split: s.examples_per_split[split] for split in SPLITS if s.examples_per_split[split]},
        "pages": s.pages_in_dataset,
        "pages_rendered": s.pages_rendered,
        "pages_from_cache": s.pages_from_cache,
        "texts_extracted": s.texts_extracted,
        "pages_ocr": s.pages_ocr,
        "windows_rejected": s.windows_rejected,
        "rejects_by_stage": dict(s.rejects_by_stage),
        "rejects_by_kind": dict(s.rejects_by_kind),
        "rejects_by_reason": dict(s.rejects_by_reason.most_common()),
        "examples_per_prompt": dict(sorted(s.examples_per_prompt.items())),
        "qa_generated": s.qa_generated,
        "qa_kept": s.qa_kept,
        "qa_kept_by_origin": dict(s.qa_kept_by_origin.most_common()),
        "qa_dropped_by_reason": dict(s.qa_dropped),
        "finish_reasons": dict(s.finish_reasons),
        "prompt_tokens": s.prompt_tokens,
        "output_tokens": s.output_tokens,
        "windows_cut_to_fit_context": s.windows_cut_to_fit,
        "shards": shards,
    }


class DatasetWriter:
    """The whole dataset from windows at hand, written by this process as one part; `close()` publishes."""

    def __init__(
        self,
        out_dir: str | Path,
        run: RunInfo,
        shard_max_rows: int,
        row_group_rows: int,
        test_fraction: float,
        groups: dict[str, str] | None = None,
        shard_max_mb: float = 500,
        row_group_mb: float = 100,
        overwrite: bool = False,
        source_paths: SourcePaths | None = None,
    ):
        self.out_dir, self.overwrite = Path(out_dir), overwrite
        self.staging = open_staging(self.out_dir)
        settings = WriteSettings(run, shard_max_rows, row_group_rows, test_fraction, shard_max_mb, row_group_mb,
                                 groups or {}, source_paths or SourcePaths())  # fmt: skip
        self.part = PartWriter(self.staging, 0, settings)
        self.stats = self.part.stats

    def add(self, windows: list[AnnotatedWindow]) -> None:
        self.part.add(windows)

    def close(
        self, sources: list[str], config_yaml: str, render_card: Callable[[dict[str, Any]], str], extra_stats: dict[str, Any]
    ) -> dict[str, Any]:
        """Finish the part, account for every input (`PartWriter.close`), write the metadata and publish."""
        part = self.part.close(sources)
        return finish_dataset(self.staging, self.out_dir, [part], len(sources), config_yaml, render_card,
                              lambda stats: extra_stats, self.overwrite)  # fmt: skip
