"""The LLM engine: the pipeline's generate stage, run through the Ray DAG, against the bare vLLM engine
given all the same prompts at once; and the CPU a regeneration with a new prompt spends outside the engine.

Throughput: the windows are loaded once here to fill a page cache, then the pipeline's own Ray DAG
(`docqa.runtime.ray_dag.run_ray`: load from the cache, prompt, generate, parse) runs on them, its engine in
a Ray actor fed `model.batch_size` windows a batch, `model.batches_in_flight` batches at once. The stage's
time is the engine's own, summed over the windows it generated (`EngineTime.span_s`): from the moment its
engine was ready to the end of its last batch, so the engine's start-up does not count but any wait for
input does. Then vLLM's `LLM.generate`, built from the same engine arguments and sampling parameters
(`GenerateQA.engine_args()`, `GenerateQA.sampling_params()`), is given every prompt the stage generated
for (the very token ids) at once, once the Ray actor is gone. No prefix is shared between the two
engines. One pass each, stage first: the other load printed beside the figure shows what else ran.

Regeneration: two local-runner runs of `run_pipeline` on the same PDFs and page cache, the second with
another prompt, sharing one engine started in this process. Each stage is wrapped to count the CPU this
process spends in it (plus the CPU of the load stage's isolated document worker); "outside the LLM" is
all the run's CPU but the generate stage's.
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
from docqa.generate.model import model_label, resolve_model
from docqa.generate.prompts import load_templates
from docqa.generate.vllm_engine import GenerateQA
from docqa.records import AnnotatedWindow, InputUnit, PromptedWindow, from_table
from docqa.runtime.plan import StagePlan, build_plan
from docqa.runtime.stage import Stage

REGENERATION_PROMPT = "docmatix-qa-completion-v1"  # not in the default prompt set: every prompt changes


def _plan(config: Config) -> StagePlan:
    templates = load_templates(config.prompt.directory, config.prompt.templates)
    return build_plan(config, templates, resolve_model(config.model), model_label(config.model))


def prepare(config: Config, pdfs: list[Path]) -> tuple[GenerateQA, list[PromptedWindow]]:
    """The pipeline's generate stage, set up, and the PDFs' windows prompted by the pipeline's own stages."""
    load, prompt, generate = _plan(config).stages[:3]
    windows = [w for pdf in pdfs for w in load([InputUnit(str(pdf), [str(pdf)])]) if w.error is None]
    load.worker.close()
    prompted = []
    batch = prompt.resources.batch_size
    for start in range(0, len(windows), batch):
        prompted += [w for w in prompt(windows[start : start + batch]) if w.error is None]
    generate.ensure_setup()  # starts the engine
    return generate, prompted


def _stage_pass(config: Config, pdfs: list[Path]) -> tuple[list[AnnotatedWindow], dict]:
    """The pipeline through Ray on `pdfs`, whose pages are in the page cache; the engine's own figures."""
    import ray

    from docqa.runtime.ray_dag import run_ray

    units = [InputUnit(str(p), [str(p)]) for p in pdfs]
    windows = [w for table in run_ray(_plan(config), units, config.run) for w in from_table(AnnotatedWindow, table)]
    ray.shutdown()  # the actor and its engine end here, before the bare engine starts
    failed = [w.error for w in windows if w.error and w.error.stage in ("load", "prompt", "generate")]
    if failed:
        raise RuntimeError(f"{len(failed)} window(s) failed before the parse stage: {failed[0]}")
    tokens = sum(w.output_tokens for w in windows)
    span = sum(w.engine_time.span_s for w in windows)
    return windows, {
        "output_tokens": tokens,
        "seconds": round(span, 1),
        "output_tokens_per_s": round(tokens / span, 2),
        "busy_share": round(sum(w.engine_time.busy_s for w in windows) / span, 3),
        "most_requests_at_once": max(w.engine_time.most_requests for w in windows),
        "engine_start_s": round(max(w.engine_time.start_s for w in windows), 1),
    }


def _bare_pass(stage: GenerateQA, prompts: list[list[int]]) -> dict:
    os.environ.update(stage.model.env)  # as the stage's engine has it (on CPU, its KV cache size)
    from vllm import LLM

    engine = LLM(**stage.engine_args())
    params = stage.sampling_params()
    started = time.perf_counter()
    outputs = engine.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
    seconds = time.perf_counter() - started
    engine.llm_engine.engine_core.shutdown()
    tokens = sum(len(output.outputs[0].token_ids) for output in outputs)
    return {"output_tokens": tokens, "seconds": round(seconds, 1), "output_tokens_per_s": round(tokens / seconds, 2)}


def measure_throughput(config: Config, pdfs: list[Path]) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as cache:
        config = config.model_copy(deep=True)
        config.output.cache_dir = cache
        load = _plan(config).stages[0]
        for pdf in pdfs:  # fills the page cache
            load([InputUnit(str(pdf), [str(pdf)])])
        load.worker.close()
        windows, stage = _stage_pass(config, pdfs)
    generate = next(s for s in _plan(config).stages if isinstance(s, GenerateQA))
    bare = _bare_pass(generate, [w.prompt_token_ids for w in windows])
    return {
        "windows": len(windows),
        "prompt_tokens": sum(len(w.prompt_token_ids) for w in windows),
        "batch_size": config.model.batch_size,
        "batches_in_flight": config.model.batches_in_flight,
        "stage": stage,
        "bare": bare,
        "ratio": ratio(stage["output_tokens_per_s"], bare["output_tokens_per_s"]),
    }


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

    is_async = False  # the local runner hands it one batch at a time: what is measured is the CPU outside the LLM

    def stream(self, records: list) -> Iterator:
        return iter(self(records))

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
