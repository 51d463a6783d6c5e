"""Settings of docqa/runtime: how the stages run (Ray or a plain loop) and what they may use."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from docqa.config.section import Section


class RunConfig(Section):
    runner: Literal["ray", "local"] = Field(
        "ray", description="`ray`: the streaming Ray Data DAG. `local`: the same stages in a plain loop (debugging)."
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster address (e.g. `auto`, `head:6379`); empty joins the cluster of the Ray job this runs in "
        "(RAY_ADDRESS), else starts a fresh local Ray instance.",
    )
    num_cpus: int | None = Field(None, description="CPUs a local Ray instance may use (default: all).")
    object_store_mb: int = Field(
        2048,
        gt=0,
        description="Most object-store memory (MiB) the DAG's blocks in flight may hold, page images included: "
        "upstream stages pause when it is reached, so what is in flight does not grow with the corpus (Ray Data "
        "takes the smaller of this and its share of the object store, 50% by default).",
    )
    load_workers: int | None = Field(
        None,
        gt=0,
        description="PDF loading workers (render, text, OCR), each with its own isolated document process. Null: one "
        "per whole CPU the cluster has left once the engine replicas, the prompt worker and one task of each other "
        "stage are seated (at least one).",
    )
    load_num_cpus: float | None = Field(
        None,
        gt=0,
        description="CPUs reserved per PDF loading worker in Ray's accounting (a reservation, not a pinning). Null: "
        "the loading workers share what the cluster has left once the engine replicas, the prompt worker and one "
        "task of each other stage are seated. A value set here (or in load_workers) that leaves some stage "
        "unseated stops the run before any work.",
    )
    unit_max_documents: int = Field(
        64,
        gt=0,
        description="Most PDFs grouped into one work unit: loaded, committed and resumed together (a tar shard is a "
        "unit of its own). Larger units cost the driver less (a Ray block and a commit each) but redo more after a "
        "kill or a replaced input: 64 cuts 1.3M PDFs into ~20k units.",
    )
    unit_max_mb: float = Field(
        256,
        gt=0,
        description="Most megabytes of PDF files grouped into one work unit (a PDF larger than this is a unit alone).",
    )
    unit_min_count: int = Field(
        100,
        gt=0,
        description="A run of PDFs is cut into at least this many work units where it has as many PDFs (fewer PDFs a "
        "unit than `unit_max_documents`), so that a small run still commits, and shows progress, as it goes.",
    )
    prompt_batch_size: int = Field(16, gt=0, description="Examples per batch in the prompt-building stage.")
    stop_after_failed_documents: int = Field(
        50,
        ge=0,
        description="Stop the run (exit code 3) when this many documents have finished, none loaded, and all "
        "failed to load with the same kind of failure (a missing password, OCR data, a limit set too low): a "
        "setting, not the files, is likely wrong. Filter and deduplication rejects never count. 0: never stop.",
    )
    verbose: bool = Field(
        False,
        description="Show Ray's and vLLM's logs on the console (`--verbose`). Off: they go to the run's log file "
        "beside the output folder (`<output>.log`, appended, kept), and the console shows one progress line, the "
        "pipeline's own messages and a summary.",
    )
