"""The stages of a run, in order, built once from the config; each declares how it batches and what it
needs (`Stage.resources`).

Without `llm` among `qa.generators` the prompt and generate stages are left out: the parse stage takes
the loaded windows and keeps the pairs read off their structure, and no model is loaded.

Both runners take this plan: `docqa.runtime.local` loops over it, `docqa.runtime.ray_dag` turns it into
Ray Data.
"""

from __future__ import annotations

from dataclasses import dataclass

from docqa.config import Config
from docqa.generate.answer import response_schema
from docqa.generate.endpoint import EndpointGenerateQA
from docqa.generate.prompt_stage import BuildPrompts
from docqa.generate.prompts import PromptTemplate
from docqa.generate.vllm_engine import GenerateQA
from docqa.ingest.load import LoadDocuments
from docqa.quality.annotate import ParseQA
from docqa.quality.decontaminate import EvalSets, RemoveEvalPages
from docqa.runtime.page_cache import PageCache, settings_key
from docqa.runtime.stage import Stage


@dataclass
class StagePlan:
    stages: list[Stage]


def page_cache(config: Config) -> PageCache | None:
    return PageCache(config.output.cache_dir, settings_key(config)) if config.output.cache_dir else None


def generate_stage(config: Config, model_path: str, model_label: str) -> Stage:
    """The LLM stage: an engine in each of `model.replicas` actors, or requests to `model.endpoint`."""
    schema = response_schema(config.sampling.max_pairs)
    if config.model.endpoint:
        return EndpointGenerateQA(model_label, config.model, config.sampling, schema)
    return GenerateQA(model_path, model_label, config.model, config.sampling, schema)


def uses_llm(config: Config) -> bool:
    return "llm" in config.qa.generators


def eval_sets(config: Config) -> EvalSets | None:
    """The eval sets' indexes, built or found in the cache; a missing or unreadable set stops the run here."""
    return EvalSets(config.decontaminate) if config.decontaminate.eval_sets else None


def build_plan(config: Config, templates: list[PromptTemplate], model_path: str, model_label: str) -> StagePlan:
    """The stages; `model_path` and `model_label` are unused (pass "") when the LLM is not a generator."""
    evals = eval_sets(config)
    load = LoadDocuments(
        config.input,
        config.render,
        config.text,
        config.limits,
        page_cache(config),
        workers=config.run.load_workers,
        num_cpus=config.run.load_num_cpus,
    )
    parse = ParseQA(config.filters, templates, batch_size=config.model.batch_size, eval_sets=evals, qa=config.qa)
    llm = llm_stages(config, templates, model_path, model_label) if uses_llm(config) else []
    plan = StagePlan([load, *llm, parse])
    if evals:  # right after loading: a contaminated window is never prompted nor generated for
        plan.stages.insert(1, RemoveEvalPages(evals))
    return plan


def llm_stages(config: Config, templates: list[PromptTemplate], model_path: str, model_label: str) -> list[Stage]:
    """The prompt stage and the LLM stage."""
    sampling = config.sampling
    prompts = BuildPrompts(
        templates,
        config.prompt.seed,
        model_path,
        config.model.max_model_len,
        sampling.max_tokens,
        sampling.max_pairs,
        config.model.revision,
        batch_size=config.run.prompt_batch_size,
    )
    return [prompts, generate_stage(config, model_path, model_label)]
