"""The output dataset: its schema, its rows, and a writer that publishes a run atomically.

Layout of the output folder, readable by `datasets.load_dataset(<folder>)` with no custom code:

    data/train-00000-of-00001.parquet   examples: page images, QA texts, provenance
    rejects/rejects-00000.parquet       every document (or window) that produced no example, and why
    dropped/pairs-00000.parquet         every QA pair a filter or the deduplication dropped, and why
    report/*.png                        the quality report's plots, shown in the dataset card
    README.md                           dataset card; its YAML declares configs, splits and features
    stats.json                          counts for the run and the quality report
    config.yaml                         the resolved configuration

The Hugging Face features are stored in each shard's Arrow schema metadata, so `images` loads as a
list of `Image` and `texts` as a list of `{user, assistant, source}` as in Docmatix. A run writes into
a staging folder beside the output and swaps it in only when complete: a crash never leaves a
half-written dataset where a good one was.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.dedup import PairDeduplicator
from pipeline.filters import count_tokens
from pipeline.records import AnnotatedWindow, DroppedPair, Reject, arrow_schema
from pipeline.report import histogram, write_plots
from pipeline.sources import source_of

SPLITS = ("train", "test")

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "images": datasets.List(datasets.Image()),
        "texts": datasets.List(
            {"user": datasets.Value("string"), "assistant": datasets.Value("string"), "source": datasets.Value("string")}
        ),
        "grounding": datasets.List(
            {
                "support": datasets.Value("float32"),
                "page": datasets.Value("int32"),
                "boxes": datasets.List(datasets.List(datasets.Value("float32"))),
            }
        ),
        "doc_id": datasets.Value("string"),
        "source_path": datasets.Value("string"),
        "page_count": datasets.Value("int32"),
        "pages": datasets.List(datasets.Value("int32")),
        "text_sources": datasets.List(datasets.Value("string")),
        "ocr_engine": datasets.Value("string"),
        "source_metadata": datasets.Value("string"),
        "prompt_id": datasets.Value("string"),
        "prompt_sha256": datasets.Value("string"),
        "prompt_tokens": datasets.Value("int32"),
        "document_tokens_dropped": datasets.Value("int32"),
        "model": datasets.Value("string"),
        "temperature": datasets.Value("float64"),
        "top_p": datasets.Value("float64"),
        "max_tokens": datasets.Value("int32"),
        "seed": datasets.Value("int64"),
        "finish_reason": datasets.Value("string"),
    }
)

COLUMN_DESCRIPTIONS = {
    "id": "`<doc_id[:24]>-<window>`: the same for a window across reruns and regenerations",
    "images": "page images of the example, in page order (at most 4 consecutive pages of one PDF)",
    "texts": "QA pairs: `user` is the question, `assistant` the answer, `source` the PDF and pages",
    "grounding": "per QA pair, as in `texts`: `support`, how well the page text supports the answer (1.0: it "
    "occurs verbatim); `page`, the index in `images` of the page that prints it (-1: not found); `boxes`, "
    "`[x0, y0, x1, y1]` in pixels of that image, one per line of text where it is printed",
    "doc_id": "sha256 of the PDF's bytes",
    "source_path": "where the PDF was read from",
    "page_count": "pages in the whole PDF",
    "pages": "0-based numbers of the pages in `images`",
    "text_sources": "per page, where the text given to the LLM came from: `layer` (the PDF's) or `ocr`",
    "ocr_engine": "the OCR engine and language data, when a page was OCRed (empty otherwise)",
    "source_metadata": "JSON metadata that came with the PDF (a webdataset sample's .json), or empty",
    "prompt_id": "prompt template id and version (`prompts/<prompt_id>.yaml`)",
    "prompt_sha256": "sha256 of the prompt template file",
    "prompt_tokens": "tokens of the prompt sent to the model",
    "document_tokens_dropped": "tokens of page text cut from the end to fit the context (0: nothing cut)",
    "model": "the model that wrote the QA pairs",
    "temperature": "sampling temperature",
    "top_p": "nucleus sampling threshold",
    "max_tokens": "generation budget",
    "seed": "engine seed",
    "finish_reason": "why generation stopped (`stop`: the JSON was complete)",
}


@dataclass
class DroppedPairRow:
    """One row of dropped/: a QA pair the engine wrote that is not in the dataset, and why."""

    doc_id: str
    source_path: str
    pages: list[int]
    question: str
    answer: str
    reason: str
    support: float


@dataclass
class RunInfo:
    """What every row records about the run that made it."""

    temperature: float
    top_p: float
    max_tokens: int
    seed: int


def dataset_row(window: AnnotatedWindow, run: RunInfo) -> dict[str, Any]:
    pages = f"{window.pages[0] + 1}" if len(window.pages) == 1 else f"{window.pages[0] + 1}-{window.pages[-1] + 1}"
    source = f"{Path(window.source_path).name} p. {pages}"
    return {
        "id": f"{window.doc_id[:24]}-{window.window}",
        "images": [{"bytes": image, "path": None} for image in window.images],
        "texts": [{"user": p.question, "assistant": p.answer, "source": source} for p in window.qa],
        "grounding": [{"support": p.support, "page": p.page, "boxes": p.boxes} for p in window.qa],
        "doc_id": window.doc_id,
        "source_path": window.source_path,
        "page_count": window.page_count,
        "pages": window.pages,
        "text_sources": window.text_sources,
        "ocr_engine": window.ocr_engine,
        "source_metadata": window.source_metadata,
        "prompt_id": window.prompt_id,
        "prompt_sha256": window.prompt_sha256,
        "prompt_tokens": len(window.prompt_token_ids),
        "document_tokens_dropped": window.document_tokens_dropped,
        "model": window.model,
        "temperature": run.temperature,
        "top_p": run.top_p,
        "max_tokens": run.max_tokens,
        "seed": run.seed,
        "finish_reason": window.finish_reason,
    }


def reject_of(window: AnnotatedWindow) -> Reject:
    stage, _, reason = window.error.partition(": ")
    return Reject(window.doc_id, window.source_path, window.pages, stage, reason)


@dataclass
class Stats:
    inputs: int = 0
    windows_in_dataset: int = 0
    windows_rejected: int = 0
    pages_in_dataset: int = 0
    pages_rendered: int = 0
    pages_from_cache: int = 0
    texts_extracted: int = 0  # pages whose text this run read from the PDF (text layer or OCR)
    pages_ocr: int = 0
    qa_generated: int = 0
    qa_kept: int = 0
    qa_dropped: Counter = field(default_factory=Counter)
    rejects_by_stage: Counter = field(default_factory=Counter)
    finish_reasons: Counter = field(default_factory=Counter)
    examples_per_split: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    output_tokens: int = 0
    windows_cut_to_fit: int = 0
    examples_per_prompt: Counter = field(default_factory=Counter)
    answer_tokens: Counter = field(default_factory=Counter)  # kept pairs by answer length
    support_kept: Counter = field(default_factory=Counter)  # kept pairs by support score (to 0.01)
    support_dropped: Counter = field(default_factory=Counter)
    answers_located: int = 0

    def add(self, window: AnnotatedWindow) -> None:
        if window.from_cache:
            self.pages_from_cache += len(window.images)
        else:
            self.pages_rendered += len(window.images)
            self.texts_extracted += len(window.text_sources)
            self.pages_ocr += window.text_sources.count("ocr")
        if window.prompt_token_ids:  # reached the engine
            self.prompt_tokens += len(window.prompt_token_ids)
            self.windows_cut_to_fit += window.document_tokens_dropped > 0
        if window.finish_reason:
            self.output_tokens += window.output_tokens
            self.finish_reasons[window.finish_reason] += 1
        self.qa_generated += len(window.qa) + len(window.dropped)
        self.qa_kept += len(window.qa)
        self.qa_dropped.update(d.reason for d in window.dropped)
        self.answer_tokens.update(count_tokens(p.answer) for p in window.qa)
        self.support_kept.update(round(p.support, 2) for p in window.qa)
        self.support_dropped.update(round(d.support, 2) for d in window.dropped)
        self.answers_located += sum(p.page >= 0 for p in window.qa)
        if window.error:
            self.windows_rejected += 1
            self.rejects_by_stage[window.error.partition(": ")[0]] += 1
        else:
            self.windows_in_dataset += 1
            self.pages_in_dataset += len(window.pages)
            self.examples_per_prompt[window.prompt_id] += 1


    def quality(self) -> dict[str, Any]:
        """The quality report: drop rates per filter, yield per page, answer lengths and grounding scores."""
        generated = max(self.qa_generated, 1)
        return {
            "qa_drop_rate_by_reason": {r: round(n / generated, 4) for r, n in self.qa_dropped.most_common()},
            "qa_kept_rate": round(self.qa_kept / generated, 4),
            "qa_per_page": round(self.qa_kept / max(self.pages_in_dataset, 1), 3),
            "answers_located_on_page": round(self.answers_located / max(self.qa_kept, 1), 4),
            "answer_tokens_histogram": histogram(self.answer_tokens, [1, 2, 4, 8, 16, 32, 64, 128]),
            "support_histogram_kept": histogram(self.support_kept, [i / 10 for i in range(11)]),
            "support_histogram_dropped": histogram(self.support_dropped, [i / 10 for i in range(11)]),
        }


def split_of(group: str, test_fraction: float) -> str:
    """The split of a group of near-copy documents, from the hash of its first document id: all windows
    of a document and of its near-copies land in the same split."""
    return "test" if int(group[:8], 16) < test_fraction * 16**8 else "train"


def row_bytes(row: dict[str, Any]) -> int:
    """About what a row weighs in Parquet: its images (already compressed) and its texts."""
    return sum(len(image["bytes"]) for image in row["images"]) + len(json.dumps(row["texts"])) + 1024


class ShardSeries:
    """One split's shards: rows in row groups of at most `row_group_rows` rows and `row_group_mb`, a new
    file once a shard holds `max_rows` rows or would pass `max_mb`; Hub names are given at the end."""

    def __init__(self, folder: Path, split: str, max_rows: int, row_group_rows: int, max_mb: float, row_group_mb: float):
        self.folder, self.split = folder, split
        self.max_rows, self.row_group_rows = max_rows, row_group_rows
        self.max_bytes, self.row_group_bytes = max_mb * 1e6, row_group_mb * 1e6
        self.paths: list[Path] = []
        self.count = 0
        self.rows: list[dict[str, Any]] = []  # the row group being filled
        self._group_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._shard_rows = self._shard_bytes = 0  # written to the open shard

    def add(self, row: dict[str, Any]) -> None:
        size = row_bytes(row)
        shard_rows = self._shard_rows + len(self.rows)
        if shard_rows and (shard_rows >= self.max_rows or self._shard_bytes + self._group_bytes + size > self.max_bytes):
            self._write_group()
            self._close_shard()
        elif self.rows and (len(self.rows) >= self.row_group_rows or self._group_bytes + size > self.row_group_bytes):
            self._write_group()
        self.rows.append(row)
        self._group_bytes += size
        self.count += 1

    def _write_group(self) -> None:
        if not self.rows:
            return
        if self._writer is None:
            self.paths.append(self.folder / f"{self.split}-{len(self.paths):05d}.parquet")
            self._writer = pq.ParquetWriter(self.paths[-1], FEATURES.arrow_schema)
        self._writer.write_table(pa.Table.from_pylist(self.rows, schema=FEATURES.arrow_schema))
        self._shard_rows += len(self.rows)
        self._shard_bytes += self._group_bytes
        self.rows, self._group_bytes = [], 0

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer, self._shard_rows, self._shard_bytes = None, 0, 0

    def close(self) -> None:
        self._write_group()
        self._close_shard()
        for i, path in enumerate(self.paths):
            path.rename(path.with_name(f"{self.split}-{i:05d}-of-{len(self.paths):05d}.parquet"))


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
        near_duplicate_jaccard: float | None = None,
        shard_max_mb: float = 500,
        row_group_mb: float = 100,
    ):
        """`groups` maps a doc_id to its group of near-copies (`pipeline.dedup.near_copy_groups`); a
        document missing from it is its own group."""
        self.out_dir = Path(out_dir)
        self.staging = self.out_dir.with_name(f".{self.out_dir.name}.partial")
        if self.staging.exists():
            shutil.rmtree(self.staging)  # left by a crashed run; it was never published
        (self.staging / "data").mkdir(parents=True)
        (self.staging / "rejects").mkdir()
        (self.staging / "dropped").mkdir()
        self.run = run
        self.test_fraction = test_fraction
        self.groups = groups or {}
        self.deduplicator = PairDeduplicator(near_duplicate_jaccard)
        self.first_path: dict[str, str] = {}  # doc_id -> the first path its bytes were read from
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
            if not window.error:
                window = self._deduplicate(window)
            self.stats.add(window)
            self._write_dropped(window)
            if window.error:
                self.rejects.append(reject_of(window))
                continue
            self.documents_in_dataset.add(window.source_path)
            split = split_of(self.groups.get(window.doc_id, window.doc_id), self.test_fraction)
            self.splits[split].add(dataset_row(window, self.run))

    def _deduplicate(self, window: AnnotatedWindow) -> AnnotatedWindow:
        """The window without the pairs the dataset already holds; a copy of a document already in it is
        rejected whole."""
        first = self.first_path.setdefault(window.doc_id, window.source_path)
        copy = first != window.source_path
        kept, dropped = [], []
        for pair in window.qa:
            reason = "duplicate_document" if copy else self.deduplicator.check(pair.question, pair.answer)
            if reason:
                dropped.append(DroppedPair(pair.question, pair.answer, reason, pair.support))
            else:
                kept.append(pair)
        error = None
        if copy:
            error = f"dedup: the same bytes as {first}"
        elif dropped and not kept:
            counts = Counter(d.reason for d in dropped)
            error = "dedup: no QA pair kept (" + ", ".join(f"{r}: {n}" for r, n in counts.items()) + ")"
        return dataclasses.replace(window, qa=kept, dropped=window.dropped + dropped, error=error)

    def _write_dropped(self, window: AnnotatedWindow) -> None:
        if window.dropped:
            rows = [
                DroppedPairRow(window.doc_id, window.source_path, window.pages, d.question, d.answer, d.reason, d.support)
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
                self.rejects.append(Reject("", source, [], "pipeline", "input produced no output"))
        self.stats.inputs = len(sources)
        pq.write_table(
            pa.Table.from_pylist([vars(r) for r in self.rejects], schema=arrow_schema(Reject)),
            self.staging / "rejects" / "rejects-00000.parquet",
        )
        stats = {**self.summary(), **extra_stats, "quality": self.stats.quality()}
        write_plots(stats["quality"], self.staging / "report")
        (self.staging / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
        (self.staging / "config.yaml").write_text(config_yaml)
        (self.staging / "README.md").write_text(render_card(stats))
        self._publish()
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
            "examples_per_prompt": dict(sorted(s.examples_per_prompt.items())),
            "qa_generated": s.qa_generated,
            "qa_kept": s.qa_kept,
            "qa_dropped_by_reason": dict(s.qa_dropped),
            "finish_reasons": dict(s.finish_reasons),
            "prompt_tokens": s.prompt_tokens,
            "output_tokens": s.output_tokens,
            "windows_cut_to_fit_context": s.windows_cut_to_fit,
            "shards": sum(len(series.paths) for series in self.splits.values()),
        }

    def _publish(self) -> None:
        previous = self.out_dir.with_name(f".{self.out_dir.name}.previous")
        if previous.exists():
            shutil.rmtree(previous)
        if self.out_dir.exists():
            self.out_dir.rename(previous)
        self.staging.rename(self.out_dir)
        if previous.exists():
            shutil.rmtree(previous)

