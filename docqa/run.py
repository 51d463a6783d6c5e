"""One dataset run: resolve inputs and model, stream the plan through a runner into committed work
units, then assemble the dataset from them."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from docqa.config import Config, dump_config
from docqa.generate.model import model_label, resolve_model
from docqa.generate.prompts import load_templates
from docqa.ingest.sources import discover_sources, entry_roots, is_url
from docqa.output.assembly import Assembler, write_dataset_parts
from docqa.output.card import dataset_card
from docqa.output.provenance import SourcePaths, safe_location
from docqa.output.publish import check_output, make_owned, output_filesystem, remove_dataset, remove_owned, upload
from docqa.output.schema import SCHEMA_VERSION, RunInfo, pipeline_version
from docqa.output.writer import WriteSettings, finish_dataset
from docqa.records import InputUnit, Receipt, from_table
from docqa.runtime.console import Console
from docqa.runtime.faults import LoadFailureGuard, SystemicFault
from docqa.runtime.plan import StagePlan, build_plan, eval_sets, uses_llm
from docqa.runtime.units import UnitStore, WriteParts, run_key, work_root


def input_paths(config: Config, console: TextIO = sys.stdout) -> list[str]:
    if config.input.paths:
        return discover_sources(config.input.paths)
    from docqa.demo.corpus import write_sample_corpus

    sample_dir = Path(config.input.sample_dir)
    print(f"No input given: using the built-in sample corpus in {sample_dir}", file=console, flush=True)
    return discover_sources([str(p) for p in write_sample_corpus(sample_dir)])


def source_paths(config: Config) -> SourcePaths:
    """How this run records document paths; `relative` names them below the input entries (or the sample
    corpus folder), read again here (list files included) only in that mode."""
    mode = config.output.source_paths
    return SourcePaths(mode, entry_roots(config.input.paths or [config.input.sample_dir]) if mode == "relative" else [])


class UploadFailed(Exception):
    """The dataset was built but not (wholly) uploaded; the work is kept, so a rerun only uploads."""


def build_folder(config: Config) -> Path:
    """Where the dataset is built: `output.dir` itself, or a staging folder named after its URL."""
    if not is_url(config.output.dir):
        return Path(config.output.dir)
    return Path(config.output.staging_dir) / hashlib.sha256(config.output.dir.encode()).hexdigest()[:16]


def run_pipeline(config: Config, console: Console | None = None) -> dict[str, Any]:
    """Build the dataset described by `config`; returns the run's statistics (also in stats.json).

    Inputs already committed by an earlier, interrupted run with the same settings are not redone, unless
    they were replaced since (see `docqa.runtime.units`). An output that would destroy what the pipeline
    did not write is refused once the inputs are listed, before any is read (`check_output`). What a person
    follows goes to `console`, started once the settings, inputs and output are checked: the inputs, the
    resume, one progress line. A `SystemicFault` stops the run and keeps the committed inputs.
    """
    console = console or Console()
    started, started_at = time.monotonic(), time.time()
    if is_url(config.output.dir):
        output_filesystem(config.output.dir)  # a missing package or a typo stops the run now, not after it
    eval_sets(config)  # an eval set that is not there or not readable stops the run before any work
    out = build_folder(config)
    templates = load_templates(config.prompt.directory, config.prompt.templates)
    sources = input_paths(config, console.out)
    protected = [(path.removeprefix("@"), "an input") for path in config.input.paths] + [(s, "an input") for s in sources]
    if config.output.cache_dir:
        protected.append((config.output.cache_dir, "the page cache"))
    check_output(config.output.dir, out, protected, config.output.overwrite)
    key = run_key(config, templates)
    try:
        units = config.run.unit_max_documents, config.run.unit_max_mb, config.run.unit_min_count
        work_dir = make_owned(work_root(out)) / key
        store = UnitStore(work_dir, sources, *units)
    except OSError as exc:
        raise SystemicFault(f"cannot write beside the output {out} ({exc}); choose a writable output folder") from exc
    pending = store.pending()
    to_go = sum(len(unit.sources) for unit in pending)
    label = model_label(config.model) if uses_llm(config) else "no model (pairs read off the PDFs' structure)"
    console.start()
    print(f"{len(sources)} input(s) -> {safe_location(config.output.dir)} with {label}", file=console.out, flush=True)
    if to_go < len(sources):
        print(f"Resuming: {len(sources) - to_go} input(s) already done, {to_go} to go", file=console.out, flush=True)
    if pending:
        model_path = resolve_model(config.model) if uses_llm(config) else ""  # a model is prepared only to be used
        plan = build_plan(config, templates, model_path, label)
        plan.stages.append(WriteParts(store.work_dir, config.model.batch_size))
        progress = tqdm(total=to_go, desc="inputs done", unit="input", file=console.out, mininterval=1, dynamic_ncols=True)
        with progress:
            counts = {"examples": 0, "rejected": 0, "pairs kept": 0, "dropped": 0}
            guard = LoadFailureGuard(config.run.stop_after_failed_documents)
            for receipts in _run(plan, pending, config):
                if guard.armed:
                    guard.see(from_table(Receipt, receipts))
                rejected = len(receipts) - receipts["error"].null_count
                counts["examples"] += len(receipts) - rejected
                counts["rejected"] += rejected
                counts["pairs kept"] += pc.sum(receipts["pairs_kept"]).as_py() or 0
                counts["dropped"] += pc.sum(receipts["pairs_dropped"]).as_py() or 0
                progress.set_postfix(counts, refresh=False)
                progress.update(store.add(receipts))
        if missing := store.pending():
            raise RuntimeError(f"records of {len(missing)} work unit(s) never arrived; run again to redo them")
    sampling = config.sampling
    settings = WriteSettings(
        RunInfo(sampling.temperature, sampling.top_p, sampling.max_tokens, sampling.seed),
        config.output.shard_max_rows,
        config.output.row_group_rows,
        config.output.test_fraction,
        shard_max_mb=config.output.shard_max_mb,
        row_group_mb=config.output.row_group_mb,
        source_paths=source_paths(config),
    )
    staging, parts = write_dataset_parts(
        _assembler(config),
        work_dir,
        store.committed(),
        out,
        settings,
        config.filters.near_duplicate_jaccard,
        config.output.split_near_duplicate_jaccard,
    )
    stats = finish_dataset(
        staging,
        out,
        parts,
        len(sources),
        dump_config(config),
        lambda stats: dataset_card(config, templates, label, stats),
        lambda stats: {
            "wall_seconds": round(time.monotonic() - started, 1),
            "model": label,
            "cost": stats.cost(config.cost),
            "engine": stats.engine(started_at),
            "pipeline_version": pipeline_version(),
            "schema_version": SCHEMA_VERSION,
        },
        config.output.overwrite,
    )
    if is_url(config.output.dir):
        try:
            upload(out, config.output.dir, config.output.overwrite)
        except Exception as exc:  # the committed work stays: a rerun assembles and uploads, generating nothing
            raise UploadFailed(
                f"uploading to {config.output.dir} failed ({type(exc).__name__}: {exc}); the dataset is built in "
                f"{out}: run the same command again to upload it without redoing any input"
            ) from exc
        remove_dataset(out)
    remove_owned(work_root(out))
    return stats


def _run(plan: StagePlan, units: list[InputUnit], config: Config) -> Iterator[pa.Table]:
    if config.run.runner == "ray":
        from docqa.runtime.ray_dag import run_ray

        return run_ray(plan, units, config.run)
    from docqa.runtime.local import run_local

    return run_local(plan, units)


def _assembler(config: Config) -> Assembler:
    if config.run.runner == "ray":
        from docqa.runtime.ray_dag import RayAssembler

        return RayAssembler(config.run)
    from docqa.runtime.local import LocalAssembler

    return LocalAssembler()
