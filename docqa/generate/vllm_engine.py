"""Generate QA pairs with a vLLM engine held in-process, one engine per stage instance, kept fed.

The engine is vLLM's asynchronous one (`AsyncLLM`), run on an event loop of its own thread: every
window is one request, and the runners hand the stage `model.batches_in_flight` batches at once, so the
engine schedules the next batch's requests while it finishes the last one's instead of draining at each
batch's tail (an offline `LLM.generate` call runs to its slowest request). `generate()` is awaitable
from any event loop, for any token-id prompts: a later pass (a check of the generated pairs) can send
its own prompts to the same engine beside the running batches.

Every request is constrained to the JSON schema of the answer (vLLM structured outputs), so completions
parse unless they run out of tokens. The engine-level backend is `guidance` with whitespace disabled:
with free whitespace, small models spend the token budget on blank runs. The engine is seeded; per-request
seeds are not used because vLLM's CPU sampler rejects them ("CPU Generator does not use offset"). With
several batches in flight, which requests share a step depends on timing, and so may the text (see the
README on determinism).

When a check that asks the model about each pair is on (`filters.roundtrip`, `filters.judge`), the same
engine answers it right after generating the batch (`docqa.quality.verify.PairChecker`), greedily.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import itertools
import os
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any

from docqa.config import ModelConfig, SamplingConfig
from docqa.generate.meter import RequestMeter
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
            batches_in_flight=model.batches_in_flight,
        )

    def engine_args(self) -> dict[str, Any]:
        """What the engine is built from (vLLM's `AsyncEngineArgs`, or `LLM` for a bare engine alike)."""
        return {
            "model": self.model_path,
            "max_model_len": self.model.max_model_len,
            "dtype": self.model.dtype,
            "seed": self.sampling.seed,
            "revision": self.model.revision,
            "tokenizer_revision": self.model.revision,
            "structured_outputs_config": STRUCTURED_OUTPUTS,
            "disable_log_stats": True,
            **self.model.engine_kwargs,
        }

    def sampling_params(self) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        return SamplingParams(
            temperature=self.sampling.temperature,
            top_p=self.sampling.top_p,
            max_tokens=self.sampling.max_tokens,
            structured_outputs=StructuredOutputsParams(json=self.schema),
        )

    def setup(self) -> None:
        started = time.monotonic()
        os.environ.update(self.model.env)  # vLLM reads its environment when the engine starts
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="vllm-engine", daemon=True).start()

        async def start() -> AsyncLLM:  # built inside its loop, where its output handler then runs
            return AsyncLLM.from_engine_args(AsyncEngineArgs(**self.engine_args()))

        try:
            self.engine = self._on_engine_loop(start()).result()
        except Exception as exc:
            raise SystemicFault(
                f"the vLLM engine did not start ({type(exc).__name__}: {exc}); see the log, fix the engine's "
                "settings (model.engine_kwargs, model.env, model.max_model_len) and run again"
            ) from exc
        atexit.register(self.close)
        self.params = self.sampling_params()
        self.request_ids = itertools.count()
        self.meter = RequestMeter(started)

    def close(self) -> None:
        """Stop the engine and its processes (also done when the interpreter exits)."""
        if getattr(self, "engine", None) is not None:

            async def stop() -> None:
                self.engine.shutdown()

            self._on_engine_loop(stop()).result()
            self.engine = None
            self._ready = False

    def _on_engine_loop(self, coroutine: Coroutine) -> Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    async def generate(self, prompts: list[list[int]], params: Any = None) -> list[Any]:
        """The completions (vLLM `CompletionOutput`s) of token-id prompts, in order, with `params` (vLLM
        `SamplingParams`; default: the answer's). Awaitable from any event loop."""
        return await asyncio.wrap_future(self._on_engine_loop(self._generate(prompts, params or self.params)))

    async def _generate(self, prompts: list[list[int]], params: Any) -> list[Any]:
        return await asyncio.gather(*(self._request(prompt, params) for prompt in prompts))

    async def _request(self, prompt: list[int], params: Any) -> Any:
        self.meter.started()
        try:
            final = None
            async for final in self.engine.generate({"prompt_token_ids": prompt}, params, str(next(self.request_ids))):
                pass
        except Exception as exc:  # the engine itself failed (died, out of memory): no window can get past it
            raise SystemicFault(
                f"the vLLM engine failed ({type(exc).__name__}: {exc}); see the log, fix the engine's settings "
                "(model.engine_kwargs, model.env, model.max_model_len) and run again to resume"
            ) from exc
        finally:
            self.meter.finished()
        return final.outputs[0]

    async def process_batch_async(self, records: list[PromptedWindow]) -> list[GeneratedWindow]:
        completions = await self.generate([r.prompt_token_ids for r in records])
        engine_time = self.meter.batch_ended(len(records))
        generated = [
            extend(
                GeneratedWindow,
                record,
                model=self.model_label,
                completion=completion.text,
                finish_reason=completion.finish_reason or "",
                output_tokens=len(completion.token_ids),
                engine_time=dataclasses.replace(engine_time),
            )
            for record, completion in zip(records, completions, strict=True)
        ]
        if self.checker and self.checker.enabled:  # in a thread: `complete` waits on the engine's loop
            generated = await asyncio.to_thread(self.checker.check, generated, self.complete, self.engine.get_tokenizer())
        return generated

    def complete(self, prompts: list[list[int]], schema: dict[str, Any], max_tokens: int) -> list[tuple[str, int]]:
        """Greedy replies constrained to `schema`, for the checks; blocks (not to be called on the engine's loop)."""
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = StructuredOutputsParams(json=schema)
        params = SamplingParams(temperature=0, max_tokens=max_tokens, structured_outputs=structured)
        outputs = self._on_engine_loop(self._generate(prompts, params)).result()
        return [(o.text, len(o.token_ids)) for o in outputs]
