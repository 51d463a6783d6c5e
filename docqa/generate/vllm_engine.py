"""Generate QA pairs with a vLLM engine held in-process, one engine per stage instance.

Every request is constrained to the JSON schema of the answer (vLLM structured outputs), so completions
parse unless they run out of tokens. The engine-level backend is `guidance` with whitespace disabled:
with free whitespace, small models spend the token budget on blank runs. The engine is seeded; per-request seeds are not used because vLLM's CPU sampler rejects them
("CPU Generator does not use offset").
"""

from __future__ import annotations

import os
from typing import Any

from docqa.config import ModelConfig, SamplingConfig
from docqa.records import GeneratedWindow, PromptedWindow, extend
from docqa.runtime.faults import SystemicFault
from docqa.runtime.stage import Resources, Stage

STRUCTURED_OUTPUTS = {"backend": "guidance", "disable_any_whitespace": True}


class GenerateQA(Stage):
    name = "generate"
    input_type = PromptedWindow
    output_type = GeneratedWindow

    def __init__(self, model_path: str, model_label: str, model: ModelConfig, sampling: SamplingConfig, schema: dict[str, Any]):
        self.model_path = model_path
        self.model_label = model_label
        self.model = model
        self.sampling = sampling
        self.schema = schema
        self.resources = Resources(
            batch_size=model.batch_size,
            num_cpus=model.num_cpus,
            num_gpus=model.num_gpus,
            stateful=True,
            replicas=model.replicas,
        )

    def setup(self) -> None:
        os.environ.update(self.model.env)  # vLLM reads its environment when the engine starts
        from vllm import LLM, SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        engine_kwargs = {"structured_outputs_config": STRUCTURED_OUTPUTS, **self.model.engine_kwargs}
        self.engine = LLM(
            model=self.model_path,
            max_model_len=self.model.max_model_len,
            dtype=self.model.dtype,
            seed=self.sampling.seed,
            revision=self.model.revision,
            tokenizer_revision=self.model.revision,
            **engine_kwargs,
        )
        self.params = SamplingParams(
            temperature=self.sampling.temperature,
            top_p=self.sampling.top_p,
            max_tokens=self.sampling.max_tokens,
            structured_outputs=StructuredOutputsParams(json=self.schema),
        )

    def process_batch(self, records: list[PromptedWindow]) -> list[GeneratedWindow]:
        prompts = [{"prompt_token_ids": r.prompt_token_ids} for r in records]
        try:
            outputs = self.engine.generate(prompts, self.params, use_tqdm=False)
        except Exception as exc:  # the engine itself failed (died, out of memory): no window can get past it
            raise SystemicFault(
                f"the vLLM engine failed ({type(exc).__name__}: {exc}); see the log, fix the engine's settings "
                "(model.engine_kwargs, model.env, model.max_model_len) and run again to resume"
            ) from exc
        generated = []
        for record, output in zip(records, outputs, strict=True):
            completion = output.outputs[0]
            generated.append(
                extend(
                    GeneratedWindow,
                    record,
                    model=self.model_label,
                    completion=completion.text,
                    finish_reason=completion.finish_reason or "",
                    output_tokens=len(completion.token_ids),
                )
            )
        return generated
