"""Generate QA pairs through an OpenAI-compatible server (a running `vllm serve`, or any compatible one)
instead of an engine held in-process.

Each window is one `POST {endpoint}/completions` with the prompt as token ids (so the cut made by the
prompt stage is exactly what the model sees) and the answer's JSON schema as `response_format`. At most
`model.endpoint_concurrency` requests are in flight per stage instance, from one pool of threads that the
`model.batches_in_flight` batches handed over at once share: the pool stays full across batch ends
instead of draining at each batch's slowest request. At set-up the server's /models
must list `model.endpoint_model` (or, when that is null, some model, the first of which is used).

What would fail every window alike stops the run (a `SystemicFault`, exit code 3), keeping finished
inputs for a rerun to resume: the API key refused (HTTP 401, 403), a wrong URL or model (404), the model
not served, the server unreachable. Transport failures, timeouts, HTTP 429 and 5xx are retried with
exponential backoff first (`EndpointUnavailable` once the retries are spent). A request the server
refuses otherwise (another 4xx, e.g. a prompt longer than its context: kind `request_refused`) or answers
with something that is not a completion (`not_a_completion`) fails that window only, with the reason on
the row. Per-request seeds are not sent: vLLM's CPU sampler rejects them.

When a check that asks the model about each pair is on (`filters.roundtrip`, `filters.judge`), the same
endpoint answers it, greedily, right after a batch is generated (`docqa.quality.verify.PairChecker`); the
model's tokenizer is then loaded here too, to fit those prompts. A check request the server refuses gets
an empty reply, so its pair is dropped with the check's reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from docqa.config import ModelConfig, SamplingConfig
from docqa.quality.verify import PairChecker
from docqa.generate.meter import RequestMeter
from docqa.records import GeneratedWindow, PromptedWindow, extend
from docqa.runtime.faults import SystemicFault
from docqa.runtime.stage import Resources, Stage

RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class EndpointUnavailable(SystemicFault):
    """The server could not be reached, or kept failing, after every retry."""


class RequestRefused(RuntimeError):
    """The server answered this one request with an error that a retry would not change."""


class EndpointGenerateQA(Stage):
    name = "generate"
    input_type = PromptedWindow
    output_type = GeneratedWindow

    def __init__(
        self,
        model_label: str,
        model: ModelConfig,
        sampling: SamplingConfig,
        schema: dict[str, Any],
        checker: PairChecker | None = None,
        tokenizer_path: str | None = None,
    ):
        self.checker = checker
        self.tokenizer_path = tokenizer_path
        self.model_label = model_label
        self.model = model
        self.sampling = sampling
        self.schema = schema
        self.url = model.endpoint.rstrip("/") if model.endpoint else ""
        self.resources = Resources(
            batch_size=model.batch_size,
            num_cpus=0.25,
            stateful=True,
            replicas=model.replicas,
            batches_in_flight=model.batches_in_flight,
        )

    def setup(self) -> None:
        started = time.monotonic()
        key = os.environ.get(self.model.endpoint_api_key_env, "")
        self.headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        served = self._served_models()
        wanted = self.model.endpoint_model
        if wanted is not None and wanted not in served:
            raise SystemicFault(
                f"{self.url} serves {', '.join(served)}, not {wanted}; set model.endpoint_model to one of those, "
                "or serve that model there"
            )
        self.served_model = wanted or served[0]
        if self.checker and self.checker.enabled:
            import transformers

            revision = self.model.revision
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.tokenizer_path, revision=revision)
        self.pool = ThreadPoolExecutor(max_workers=self.model.endpoint_concurrency, thread_name_prefix="endpoint")
        self.meter = RequestMeter(started)

    def _served_models(self) -> list[str]:
        answer = self._call("GET", "/models", None)
        try:
            served = [m["id"] for m in answer["data"]]
        except (KeyError, TypeError) as exc:  # not an OpenAI-compatible answer
            raise SystemicFault(
                f"{self.url}/models did not answer with a model list ({type(exc).__name__}: {exc}); "
                "check model.endpoint (an OpenAI-compatible base URL, usually ending in /v1)"
            ) from None
        if not served:
            raise SystemicFault(f"{self.url}/models lists no model; check that the server has loaded one")
        return served

    async def process_batch_async(self, records: list[PromptedWindow]) -> list[GeneratedWindow]:
        loop = asyncio.get_running_loop()
        generated = await asyncio.gather(*(loop.run_in_executor(self.pool, self._generate, r) for r in records))
        engine_time = self.meter.batch_ended(len(records))
        for window in generated:
            window.engine_time = dataclasses.replace(engine_time)
        if self.checker and self.checker.enabled:  # in a thread: its requests go through `complete`'s own pool
            generated = await asyncio.to_thread(self.checker.check, generated, self.complete, self.tokenizer)
        return generated

    def complete(self, prompts: list[list[int]], schema: dict[str, Any], max_tokens: int) -> list[tuple[str, int]]:
        """Greedy replies constrained to `schema`, for the checks."""

        def ask(prompt: list[int]) -> tuple[str, int]:
            body = {
                "model": self.served_model,
                "prompt": prompt,
                "max_tokens": max_tokens,
                "temperature": 0,
                "response_format": {"type": "json_schema", "json_schema": {"name": "check", "schema": schema}},
            }
            try:
                answer = self._call("POST", "/completions", body)
                return answer["choices"][0].get("text", ""), (answer.get("usage") or {}).get("completion_tokens", 0)
            except (RequestRefused, KeyError, IndexError, TypeError, AttributeError):
                return "", 0

        with ThreadPoolExecutor(max_workers=self.model.endpoint_concurrency) as pool:
            return list(pool.map(ask, prompts))

    def _generate(self, record: PromptedWindow) -> GeneratedWindow:
        self.meter.started()
        try:
            return self._complete(record)
        finally:
            self.meter.finished()

    def _complete(self, record: PromptedWindow) -> GeneratedWindow:
        body = {
            "model": self.served_model,
            "prompt": record.prompt_token_ids,
            "max_tokens": self.sampling.max_tokens,
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
            "response_format": {"type": "json_schema", "json_schema": {"name": "qa_pairs", "schema": self.schema}},
        }
        try:
            answer = self._call("POST", "/completions", body)
            choice, usage = answer["choices"][0], answer.get("usage") or {}
            completion, finish_reason = choice.get("text", ""), choice.get("finish_reason") or ""
            output_tokens = usage.get("completion_tokens", 0)
        except RequestRefused as exc:
            return self.fail(record, "request_refused", str(exc))
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            reason = f"the endpoint's answer is not a completion ({type(exc).__name__}: {exc})"
            return self.fail(record, "not_a_completion", reason)
        return extend(
            GeneratedWindow,
            record,
            model=self.model_label,
            completion=completion,
            finish_reason=finish_reason,
            output_tokens=output_tokens,
        )

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """One request, retried with backoff on transport errors and retryable statuses."""
        data = json.dumps(body).encode() if body is not None else None
        problem = ""
        for attempt in range(self.model.endpoint_retries + 1):
            if attempt:
                time.sleep(min(self.model.endpoint_backoff_s * 2 ** (attempt - 1), 60))
            request = urllib.request.Request(self.url + path, data=data, headers=self.headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.model.endpoint_timeout_s) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                said = exc.read()[:300].decode(errors="replace").strip()
                if exc.code in (401, 403, 404):
                    raise SystemicFault(self._refusal(exc.code, said, path)) from None
                if exc.code not in RETRY_STATUS:
                    raise RequestRefused(f"the endpoint refused the request (HTTP {exc.code}: {said})") from None
                problem = f"HTTP {exc.code}: {said}"
            except (OSError, json.JSONDecodeError) as exc:  # refused or dropped connections, timeouts
                problem = f"{type(exc).__name__}: {exc}"
        raise EndpointUnavailable(
            f"{self.url}{path} failed {self.model.endpoint_retries + 1} times (last: {problem}); "
            "check that the server is up, then run again to resume"
        )

    def _refusal(self, status: int, said: str, path: str) -> str:
        """What a 401, 403 or 404 means for the whole run, and what to change."""
        env = self.model.endpoint_api_key_env
        if status == 404:
            return (
                f"{self.url}{path} answered HTTP 404 ({said}); check model.endpoint (the server's base URL, usually "
                "ending in /v1) and model.endpoint_model"
            )
        if "Authorization" in self.headers:
            return f"the endpoint refused the API key in ${env} (HTTP {status}: {said}); set {env} to a key it accepts"
        return f"the endpoint wants an API key (HTTP {status}: {said}); set {env} to the key"
