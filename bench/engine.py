"""The LLM engine: the pipeline's generate stage against the bare vLLM engine on the same prompts, and the
CPU a regeneration with a new prompt spends outside the engine.

Throughput: windows are loaded and prompted by the pipeline's own stages, the engine is started once by
the pipeline's `GenerateQA.setup()` (so both sides run the very same engine), then the prompts are
generated alternately by a bare `LLM.generate` call on all of them at once, with `SamplingParams` built
here from the config, and by the stage, fed `model.batch_size` windows at a time as both runners feed
it. The prefix cache is emptied before every pass, so no pass reuses another's prompts.

Regeneration: two local-runner runs of `run_pipeline` on the same PDFs and page cache, the second with
another prompt, sharing the engine already started. Each stage is wrapped to count the CPU this process
spends in it (plus the CPU of the load stage's isolated document worker); "outside the LLM" is all the
run's CPU but the generate stage's.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docqa.run
from bench.common import DEFAULT_CONFIG, descendants, process_cpu_s, ratio
from docqa.config import Config, load_config
from docqa.generate.answer import response_schema
from docqa.generate.model import model_label, resolve_model
from docqa.generate.prompts import load_templates
from docqa.generate.vllm_engine import GenerateQA
from docqa.records import PromptedWindow, SourceDocument
from docqa.runtime.plan import StagePlan, build_plan
from docqa.runtime.stage import Stage

REGENERATION_PROMPT = "docmatix-qa-completion-v1"  # not in the default prompt set: every prompt changes


def prepare(config: Config, pdfs: list[Path]) -> tuple[GenerateQA, list[PromptedWindow]]:
    """The pipeline's generate stage, set up, and the PDFs' windows prompted by the pipeline's own stages."""
    templates = load_templates(config.prompt.directory, config.prompt.templates)
    plan = build_plan(config, templates, resolve_model(config.model), model_label(config.model))
    load, prompt, generate = plan.stages[:3]
    windows = [w for pdf in pdfs for w in load([SourceDocument(str(pdf))]) if w.error is None]
    load.worker.close()
    prompted = []
    batch = prompt.resources.batch_size
    for start in range(0, len(windows), batch):
        prompted += [w for w in prompt(windows[start : start + batch]) if w.error is None]
    generate.ensure_setup()  # starts the engine
    return generate, prompted


def _bare_pass(engine: Any, params: Any, windows: list[PromptedWindow]) -> tuple[int, float]:
    engine.reset_prefix_cache()
    started = time.perf_counter()
    outputs = engine.generate([{"prompt_token_ids": w.prompt_token_ids} for w in windows], params, use_tqdm=False)
    seconds = time.perf_counter() - started
    return sum(len(output.outputs[0].token_ids) for output in outputs), seconds


def _stage_pass(stage: GenerateQA, windows: list[PromptedWindow], batch_size: int) -> tuple[int, float]:
    stage.engine.reset_prefix_cache()
    started = time.perf_counter()
    generated = []
    for start in range(0, len(windows), batch_size):
        generated += stage(windows[start : start + batch_size])
    seconds = time.perf_counter() - started
    failed = [w.error for w in generated if w.error]
    if failed:
        raise RuntimeError(f"the generate stage failed on {len(failed)} window(s): {failed[0]}")
    return sum(w.output_tokens for w in generated), seconds


def measure_throughput(config: Config, stage: GenerateQA, windows: list[PromptedWindow]) -> dict:
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    sampling = config.sampling
    params = SamplingParams(
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        structured_outputs=StructuredOutputsParams(json=response_schema(sampling.max_pairs)),
    )
    batch = config.model.batch_size
    passes: dict[str, list[tuple[int, float]]] = {"bare": [], "stage": [], "stage_half_batch": []}
    # One untimed pass first: the first requests compile the JSON grammar and warm the engine's kernels.
    _stage_pass(stage, windows[:batch], batch)
    # Alternated (bare, stage, stage, bare) so that a drift in the machine's load falls on both sides
    # alike; then one pass of the stage at half the batch size, which shows what batching costs: each batch
    # runs to its slowest request before the next is handed over.
    for side in ("bare", "stage", "stage", "bare", "stage_half_batch"):
        if side == "bare":
            passes[side].append(_bare_pass(stage.engine, params, windows))
        else:
            passes[side].append(_stage_pass(stage, windows, batch if side == "stage" else max(1, batch // 2)))
    results: dict[str, Any] = {
        "windows": len(windows),
        "prompt_tokens": sum(len(w.prompt_token_ids) for w in windows),
        "batch_size": batch,
    }
    for name, measured in passes.items():
        tokens, seconds = sum(t for t, _ in measured), sum(s for _, s in measured)
        results[name] = {
            "passes": len(measured),
            "output_tokens": tokens,
            "seconds": round(seconds, 1),
            "output_tokens_per_s": round(tokens / seconds, 2),
        }
    bare = results["bare"]["output_tokens_per_s"]
    results["ratio"] = ratio(results["stage"]["output_tokens_per_s"], bare)
    results["ratio_half_batch"] = ratio(results["stage_half_batch"]["output_tokens_per_s"], bare)
    return results


class StageMeter:
    """Calls a stage and counts the CPU this process spends in it, plus that of the stage's isolated worker."""

    def __init__(self, stage: Stage):
        self.stage = stage
        self.resources = stage.resources
        self.cpu_s = 0.0
        self.setup_cpu_s = 0.0  # of cpu_s: the stage's set-up (a tokenizer load), paid once per run
        self.worker_cpu_s: dict[int, float] = {}  # cumulative CPU of each worker process seen

    def __call__(self, records: list) -> list:
        started = time.process_time()
        self.stage.ensure_setup()
        self.setup_cpu_s += time.process_time() - started
        try:
            return self.stage(records)
        finally:
            self.cpu_s += time.process_time() - started
            worker = getattr(self.stage, "worker", None)
            if worker is not None and worker.pid:
                self.worker_cpu_s[worker.pid] = process_cpu_s(worker.pid)

    @property
    def total_cpu_s(self) -> float:
        return self.cpu_s + sum(self.worker_cpu_s.values())


def _engine_settings(stage: GenerateQA) -> tuple:
    return stage.model_path, stage.model, stage.sampling, stage.schema


@contextmanager
def metered_plans(generate: GenerateQA) -> Iterator[list[dict[str, StageMeter]]]:
    """While open, every plan `run_pipeline` builds shares `generate` (its settings checked) and has its
    stages metered; the meters of each run are appended to the list yielded."""
    meters: list[dict[str, StageMeter]] = []
    real_build_plan = docqa.run.build_plan

    def metered_build_plan(*args: Any) -> StagePlan:
        plan = real_build_plan(*args)
        for i, stage in enumerate(plan.stages):
            if isinstance(stage, GenerateQA):
                if _engine_settings(stage) != _engine_settings(generate):
                    raise RuntimeError("the run's engine settings differ from those of the engine already started")
                plan.stages[i] = generate
        meters.append({stage.name: StageMeter(stage) for stage in plan.stages})
        plan.stages = list(meters[-1].values())
        return plan

    docqa.run.build_plan = metered_build_plan
    try:
        yield meters
    finally:
        docqa.run.build_plan = real_build_plan


def measure_regeneration(config: Config, generate: GenerateQA, pdfs: list[Path]) -> dict:
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-regenerate-") as work, metered_plans(generate) as meters:
        for name, prompt in (("first", None), ("regenerated", REGENERATION_PROMPT)):
            overrides = [
                f"input.paths={json.dumps([str(p) for p in pdfs])}",
                f"output.dir={json.dumps(f'{work}/{name}')}",
                f"output.cache_dir={json.dumps(f'{work}/cache')}",
                "run.runner=local",
            ] + ([f"prompt.templates=[{prompt}]"] if prompt else [])
            run_config = load_config(DEFAULT_CONFIG, overrides)
            # The engine's processes, and the idle load worker of an earlier run (whose CPU stays put).
            engine_cpu = {pid: process_cpu_s(pid) for pid in descendants(os.getpid())}
            started, cpu_started = time.monotonic(), time.process_time()
            stats = docqa.run.run_pipeline(run_config)
            cpu_s = time.process_time() - cpu_started
            wall_s = time.monotonic() - started
            stage = meters[-1]
            generate_cpu = stage["generate"].cpu_s
            workers_cpu = stage["load"].total_cpu_s - stage["load"].cpu_s
            outside = cpu_s - generate_cpu + workers_cpu
            runs[name] = {
                "prompt": prompt or "default set",
                "wall_s": round(wall_s, 1),
                "cpu_outside_llm_s": round(outside, 2),
                "load_cpu_s": round(stage["load"].total_cpu_s, 2),
                "prompt_cpu_s": round(stage["prompt"].cpu_s, 2),
                "parse_cpu_s": round(stage["parse"].cpu_s, 2),
                "setup_cpu_s": round(sum(m.setup_cpu_s for name, m in stage.items() if name != "generate"), 2),
                "rest_cpu_s": round(cpu_s - sum(m.cpu_s for m in stage.values()), 2),  # discovery, writing
                "llm_cpu_s": round(generate_cpu + sum(process_cpu_s(p) - c for p, c in engine_cpu.items()), 1),
                "pages_rendered": stats["pages_rendered"],
                "pages_from_cache": stats["pages_from_cache"],
            }
    first, again = runs["first"], runs["regenerated"]
    return {
        **runs,
        "ratio": ratio(again["cpu_outside_llm_s"], first["cpu_outside_llm_s"]),
        # What a corpus large enough to amortise the per-run set-up (tokenizer loads) would approach.
        "ratio_without_setup": ratio(
            again["cpu_outside_llm_s"] - again["setup_cpu_s"], first["cpu_outside_llm_s"] - first["setup_cpu_s"]
        ),
        "load_ratio": ratio(again["load_cpu_s"], first["load_cpu_s"]),
    }
