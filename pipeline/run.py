"""One dataset run: resolve inputs and model, stream the plan through a runner into the writer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.card import dataset_card
from pipeline.config import Config, dump_config
from pipeline.dataset import DatasetWriter, RunInfo
from pipeline.sources import discover_sources
from pipeline.model import model_label, resolve_model
from pipeline.plan import build_plan
from pipeline.prompts import load_template


def input_paths(config: Config) -> list[str]:
    if config.input.paths:
        return discover_sources(config.input.paths)
    from pipeline.samples import write_sample_corpus

    sample_dir = Path(config.input.sample_dir)
    print(f"No input given: using the built-in sample corpus in {sample_dir}", flush=True)
    return discover_sources([str(p) for p in write_sample_corpus(sample_dir)])


def run_pipeline(config: Config) -> dict[str, Any]:
    """Build the dataset described by `config`; returns the run's statistics (also in stats.json)."""
    started = time.monotonic()
    sources = input_paths(config)
    template = load_template(config.prompt.directory, config.prompt.template)
    model_path = resolve_model(config.model)
    plan = build_plan(config, template, model_path, model_label(config.model))
    sampling = config.sampling
    writer = DatasetWriter(
        config.output.dir,
        RunInfo(sampling.temperature, sampling.top_p, sampling.max_tokens, sampling.seed),
        config.output.shard_max_rows,
        config.output.row_group_rows,
    )
    print(f"{len(sources)} input(s) -> {config.output.dir} with {model_label(config.model)}", flush=True)
    if config.run.runner == "ray":
        from pipeline.dag import run_ray

        batches = run_ray(plan, sources, config.run)
    else:
        from pipeline.local import run_local

        batches = run_local(plan, sources)
    with tqdm(desc="examples written", unit="ex") as progress:
        for batch in batches:
            writer.add(batch)
            progress.update(len(batch))
            progress.set_postfix(kept=writer.stats.windows_in_dataset, rejected=writer.stats.windows_rejected)
    elapsed = time.monotonic() - started
    return writer.close(
        sources,
        dump_config(config),
        lambda stats: dataset_card(config, template, model_label(config.model), stats),
        {"wall_seconds": round(elapsed, 1), "model": model_label(config.model), "prompt_id": template.prompt_id},
    )
