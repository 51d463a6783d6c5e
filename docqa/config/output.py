"""Settings of docqa/output: where and how the dataset is written, and the prices its cost is reported in."""

from __future__ import annotations

from pydantic import Field

from docqa.config.section import Section
from docqa.output.provenance import SourcePathMode
from docqa.redaction import SECRET_LOCATIONS


class OutputConfig(Section):
    dir: str = Field(
        "out/dataset",
        description="Dataset folder (data/, rejects/, README.md, stats.json, config.yaml, .docqa-manifest.json), "
        "or an fsspec URL (s3://, gs://, hf://...) to upload it to once built. It must be missing, empty or a "
        "dataset docqa wrote (see `overwrite`); only files an earlier run wrote there are ever removed.",
        json_schema_extra=SECRET_LOCATIONS,
    )
    overwrite: bool = Field(
        False,
        description="Replace `dir` even when it holds files docqa did not write (they are deleted). Without it "
        "such a folder, or any file, stops the run before any work. A dataset docqa wrote is replaced without "
        "it, and files added to it by hand are kept. Never allowed for an input or a folder above one, the "
        "page cache, the home or working folder, or `/`.",
    )
    staging_dir: str = Field(
        ".cache/staging",
        description="When `dir` is a URL: the local folder where the dataset is built, and a killed run's "
        "work kept for resuming, before the upload: room for the dataset and its work folder (about twice the "
        "dataset), emptied but for the log once the upload succeeds.",
    )
    cache_dir: str | None = Field(
        "out/cache",
        description="Page cache (folder or fsspec URL): rendered pages and texts by document hash and settings, "
        "reused when regenerating with another prompt or model. The settings part covers every input, render, "
        "text and limits field that shapes pages (not paths, max_file_mb or the time and memory limits), the "
        "PyMuPDF, MuPDF and Pillow versions and the OCR language data's content. Stored many documents to a "
        "Parquet file with an index; it holds every loaded document's page images under each settings key and is "
        "never removed by a run (delete a settings key's folder to reclaim it). Empty (null) disables it.",
        json_schema_extra=SECRET_LOCATIONS,
    )
    test_fraction: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="Share of documents in the test split, chosen by document hash. A document and its "
        "near-copies (see split_near_duplicate_jaccard) always land in the same split.",
    )
    split_near_duplicate_jaccard: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Documents whose texts (word 5-grams) overlap by at least this Jaccard similarity count as "
        "near-copies and share a split, so the test split holds no near-copy of a training document.",
    )
    shard_max_mb: float = Field(
        500,
        gt=0,
        description="A Parquet shard is closed before it passes this size (the Hub's convention: ~500 MB). The "
        "shards are written in parts side by side, one per range of inputs (two per CPU of the Ray cluster; one "
        "with `run.runner=local`), so a split may also hold one smaller shard per part.",
    )
    shard_max_rows: int = Field(100_000, gt=0, description="Rows per Parquet shard at most.")
    row_group_mb: float = Field(
        100, gt=0, description="Row groups stay under this size, so the Hub's dataset viewer can read them."
    )
    row_group_rows: int = Field(100, gt=0, description="Rows per Parquet row group at most.")
    source_paths: SourcePathMode = Field(
        "full",
        description="How the dataset records where each document was read from (`source_path` column, "
        "`texts[].source`, rejects, dropped pairs, the card, `input.paths` in config.yaml): `full`, the path "
        "or URL (credentials, query string and fragment always removed); `relative`, the path below the "
        "input entry it was found under (a folder: the path inside it; a file or tar shard: its name, with "
        "`::member`); `hash`, the first 16 hex digits of the sha256 of the `full` form.",
    )
    dataset_name: str = Field("docqa", description="Dataset name used in the dataset card.")
    license: str = Field("other", description="Licence declared in the dataset card (depends on your PDFs).")


class CostConfig(Section):
    cpu_hour: float = Field(0.05, ge=0, description="Price of a CPU core-hour, charged for the stages' CPU seconds "
                            "(their processes and the processes they start: PDF workers, a CPU engine).")
    gpu_hour: float = Field(2.5, ge=0, description="Price of a GPU-hour, charged for the engine's GPU seconds (its "
                            "actors' time starting and generating x `model.num_gpus`; not an endpoint's).")
    currency: str = Field("USD", description="Currency of both prices, shown with the cost.")
