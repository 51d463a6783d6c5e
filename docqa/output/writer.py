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
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from docqa.ingest.sources import source_of
from docqa.output.provenance import SourcePaths
from docqa.output.publish import make_owned, publish_folder, remove_owned, sibling, write_manifest
from docqa.output.report import write_plots
from docqa.output.schema import SPLITS, DroppedPairRow, RunInfo, dataset_row, reject_of
from docqa.output.shards import ShardSeries, split_of
from docqa.output.stats import Stats
from docqa.records import AnnotatedWindow, Reject, arrow_schema


class DatasetWriter:
    """Takes annotated windows, writes Parquet shards per split and the rejects; `close()` publishes."""

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
        """`groups` maps a doc_id to its group of near-copies (`docqa.quality.dedup.near_copy_groups`); a
        document missing from it is its own group. `overwrite` lets the publish replace a folder the
        pipeline did not write (`docqa.output.publish`). `source_paths` turns a document's path into the
        form rows, rejects and dropped pairs record (default: the full path, made safe)."""
        self.out_dir = Path(out_dir)
        self.overwrite = overwrite
        self.staging = sibling(self.out_dir, "partial")
        remove_owned(self.staging)  # left by a crashed run; it was never published
        make_owned(self.staging)
        (self.staging / "data").mkdir()
        (self.staging / "rejects").mkdir()
        (self.staging / "dropped").mkdir()
        self.run = run
        self.test_fraction = test_fraction
        self.groups = groups or {}
        self.source_paths = source_paths or SourcePaths()
        self.dropped = pq.ParquetWriter(self.staging / "dropped" / "pairs-00000.parquet", arrow_schema(DroppedPairRow))
        self.splits = {
            split: ShardSeries(self.staging / "data", split, shard_max_rows, row_group_rows, shard_max_mb, row_group_mb)
            for split in SPLITS
        }
        self.stats = Stats()
        self.rejects: list[Reject] = []
        self.documents_in_dataset: set[str] = set()

    def add(self, windows: list[AnnotatedWindow]) -> None:
        for window in windows:
            self.stats.add(window)
            self._write_dropped(window)
            if window.error:
                self.rejects.append(reject_of(window))
                continue
            self.documents_in_dataset.add(window.source_path)
            split = split_of(self.groups.get(window.doc_id, window.doc_id), self.test_fraction)
            self.splits[split].add(dataset_row(window, self.run, self.source_paths(window.source_path)))

    def _write_dropped(self, window: AnnotatedWindow) -> None:
        if window.dropped:
            path = self.source_paths(window.source_path)
            rows = [
                DroppedPairRow(
                    window.doc_id, path, window.pages, d.question, d.answer, d.reason, d.support, d.about, d.detail,
                    d.origin,
                )
                for d in window.dropped
            ]
            self.dropped.write_table(pa.Table.from_pylist([vars(r) for r in rows], schema=arrow_schema(DroppedPairRow)))

    def close(
        self, sources: list[str], config_yaml: str, render_card: Callable[[dict[str, Any]], str], extra_stats: dict[str, Any]
    ) -> dict[str, Any]:
        """Finish the shards, account for every input, write the metadata and publish.

        `sources` are the input units (PDFs and tar shards); a document inside a shard is named
        `shard::member`, so a shard counts as accounted for once any of its documents is.
        """
        for series in self.splits.values():
            series.close()
        self.dropped.close()
        seen = {source_of(path) for path in self.documents_in_dataset | {r.source_path for r in self.rejects}}
        for source in sources:
            if source not in seen:
                # Every input must be accounted for; reaching this is a bug, recorded rather than hidden.
                self.rejects.append(Reject("", source, [], "pipeline", "input_lost", "input produced no output"))
        self.stats.inputs = len(sources)
        paths = self.source_paths
        recorded = [
            replace(r, source_path=paths(r.source_path), reason=paths.text(r.reason, r.source_path))
            for r in self.rejects
        ]
        pq.write_table(
            pa.Table.from_pylist([vars(r) for r in recorded], schema=arrow_schema(Reject)),
            self.staging / "rejects" / "rejects-00000.parquet",
        )
        stats = {**self.summary(), **extra_stats, "quality": self.stats.quality()}
        write_plots(stats["quality"], self.staging / "report")
        (self.staging / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
        (self.staging / "config.yaml").write_text(config_yaml)
        (self.staging / "README.md").write_text(render_card(stats))
        write_manifest(self.staging)
        publish_folder(self.staging, self.out_dir, self.overwrite)
        return stats

    def summary(self) -> dict[str, Any]:
        s = self.stats
        rejected_docs = {r.source_path for r in self.rejects} - self.documents_in_dataset
        return {
            "inputs": s.inputs,
            "documents": len(self.documents_in_dataset | rejected_docs),
            "documents_in_dataset": len(self.documents_in_dataset),
            "documents_rejected": len(rejected_docs),
            "examples": s.windows_in_dataset,
            "examples_per_split": {split: series.count for split, series in self.splits.items() if series.count},
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
            "shards": sum(len(series.paths) for series in self.splits.values()),
        }
