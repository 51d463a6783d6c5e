"""Generate QA pairs with a vLLM engine held in-process, one engine per stage instance.

Every request is constrained to the JSON schema of the answer (vLLM structured outputs), so completions
parse unless they run out of tokens. The engine-level backend is `guidance` with whitespace disabled:
with free whitespace, small models spend the token budget on blank runs. The engine is seeded; per-request seeds are not used because vLLM's CPU sampler rejects them
("CPU Generator does not use offset").

When a check that asks the model about each pair is on (`filters.roundtrip`, `filters.judge`), the same
engine answers it right after generating the batch (`docqa.quality.verify.PairChecker`), greedily.
"""

from __future__ import annotations

import os
from typing import Any

from docqa.config import ModelConfig, SamplingConfig
from docqa.quality.verify import PairChecker
from docqa.records import GeneratedWindow, PromptedWindow, extend
from docqa.runtime.faults import SystemicFault
from docqa.runtime.stage import Resources, Stage

STRUCTURED_OUTPUTS = {"backend": "guidance", "disable_any_whitespace": True}


class GenerateQA(Stage):
    name = "generate"
    input_type = PromptedWindow
    output_type = GeneratedWindow

    def __init__(
        self,
        model_path: str,
        model_label: str,
        model: ModelConfig,
        sampling: SamplingConfig,
        schema: dict[str, Any],
        checker: PairChecker | None = None,
    ):
        self.checker = checker
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
        outputs = self._generate([r.prompt_token_ids for r in records], self.params)
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
        if self.checker and self.checker.enabled:
            generated = self.checker.check(generated, self.complete, self.engine.get_tokenizer())
        return generated

    def _generate(self, prompts: list[list[int]], params: Any) -> list[Any]:
        try:
            return self.engine.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
        except Exception as exc:  # the engine itself failed (died, out of memory): no window can get past it
            raise SystemicFault(
                f"the vLLM engine failed ({type(exc).__name__}: {exc}); see the log, fix the engine's settings "
                "(model.engine_kwargs, model.env, model.max_model_len) and run again to resume"
            ) from exc

    def complete(self, prompts: list[list[int]], schema: dict[str, Any], max_tokens: int) -> list[tuple[str, int]]:
        """Greedy replies constrained to `schema`, for the checks."""
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = StructuredOutputsParams(json=schema)
        params = SamplingParams(temperature=0, max_tokens=max_tokens, structured_outputs=structured)
        return [(o.outputs[0].text, len(o.outputs[0].token_ids)) for o in self._generate(prompts, params)]
