"""The stages of a run, in order, with how each is batched and sized: built once from the config.

Both runners take this plan: `pipeline.local` loops over it, `pipeline.dag` turns it into Ray Data.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.cache import PageCache, settings_key
from pipeline.config import Config
from pipeline.prompts import PromptTemplate, response_schema
from pipeline.stages.base import Stage
from pipeline.stages.endpoint import EndpointGenerateQA
from pipeline.stages.generate import GenerateQA
from pipeline.stages.load import LoadDocuments
from pipeline.stages.parse import ParseQA
from pipeline.stages.prompt import BuildPrompts


@dataclass
class Step:
    stage: Stage
    batch_size: int
    num_cpus: float
    stateful: bool = False  # holds a loaded model or tokenizer: runs in long-lived Ray actors
    replicas: int = 1  # actors, when stateful
    num_gpus: float = 0
    memory_gb: float = 0  # memory each worker is expected to hold, so Ray does not overcommit the node


@dataclass
class StagePlan:
    steps: list[Step]


def page_cache(config: Config) -> PageCache | None:
    return PageCache(config.output.cache_dir, settings_key(config)) if config.output.cache_dir else None


def generate_step(config: Config, model_path: str, model_label: str) -> Step:
    """The LLM step: an engine in each of `model.replicas` actors, or requests to `model.endpoint`."""
    model, sampling = config.model, config.sampling
    schema = response_schema(sampling.max_pairs)
    if model.endpoint:
        stage: Stage = EndpointGenerateQA(model_label, model, sampling, schema)
        return Step(stage, batch_size=model.batch_size, num_cpus=0.25, stateful=True, replicas=model.replicas)
    stage = GenerateQA(model_path, model_label, model, sampling, schema)
    return Step(
        stage,
        batch_size=model.batch_size,
        num_cpus=model.num_cpus,
        stateful=True,
        replicas=model.replicas,
        num_gpus=model.num_gpus,
    )


def build_plan(config: Config, templates: list[PromptTemplate], model_path: str, model_label: str) -> StagePlan:
    sampling = config.sampling
    return StagePlan(
        [
            Step(
                LoadDocuments(config.input, config.render, config.text, config.limits, page_cache(config)),
                batch_size=1,
                num_cpus=config.run.load_num_cpus,
                stateful=True,  # keeps its isolated document process between documents
                replicas=config.run.load_workers,
            ),
            Step(
                BuildPrompts(
                    templates,
                    config.prompt.seed,
                    model_path,
                    config.model.max_model_len,
                    sampling.max_tokens,
                    sampling.max_pairs,
                    config.model.revision,
                ),
                batch_size=config.run.prompt_batch_size,
                num_cpus=0.25,
                stateful=True,
                memory_gb=1.2,  # a large-vocabulary tokenizer (Gemma 3: 262k tokens) takes about 0.9 GB
            ),
            generate_step(config, model_path, model_label),
            Step(ParseQA(config.filters, templates), batch_size=config.model.batch_size, num_cpus=0.1),
        ]
    )
