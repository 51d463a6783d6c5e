"""Generate QA pairs through an OpenAI-compatible server (a running `vllm serve`, or any compatible one)
instead of an engine held in-process.

Each window is one `POST {endpoint}/completions` with the prompt as token ids (so the cut made by the
prompt stage is exactly what the model sees) and the answer's JSON schema as `response_format`. At most
`model.endpoint_concurrency` requests are in flight per stage instance. Transport failures, timeouts,
HTTP 429 and 5xx are retried with exponential backoff; if the server stays unreachable the batch fails
with `EndpointUnavailable`, so no window is recorded as done and a rerun resumes them. A request the
server refuses (another 4xx, e.g. a prompt longer than its context) or answers with something that is not
a completion fails that window only, with the reason on the row. Per-request seeds are not sent: vLLM's
CPU sampler rejects them.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from docqa.config import ModelConfig, SamplingConfig
from docqa.records import GeneratedWindow, PromptedWindow, extend
from docqa.runtime.stage import Resources, Stage

RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class EndpointUnavailable(RuntimeError):
    """The server could not be reached, or kept failing, after every retry."""


class RequestRefused(RuntimeError):
    """The server answered this one request with an error that a retry would not change."""


class EndpointGenerateQA(Stage):
    name = "generate"
    input_type = PromptedWindow
    output_type = GeneratedWindow
    fatal = (EndpointUnavailable,)

    def __init__(self, model_label: str, model: ModelConfig, sampling: SamplingConfig, schema: dict[str, Any]):
        self.model_label = model_label
        self.model = model
        self.sampling = sampling
        self.schema = schema
        self.url = model.endpoint.rstrip("/") if model.endpoint else ""
        self.resources = Resources(batch_size=model.batch_size, num_cpus=0.25, stateful=True, replicas=model.replicas)

    def setup(self) -> None:
        key = os.environ.get(self.model.endpoint_api_key_env, "")
        self.headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        self.served_model = self.model.endpoint_model or self._first_served_model()

    def _first_served_model(self) -> str:
        models = self._call("GET", "/models", None).get("data") or []
        if not models:
            raise EndpointUnavailable(f"{self.url}/models lists no model: set model.endpoint_model")
        return models[0]["id"]

    def process_batch(self, records: list[PromptedWindow]) -> list[GeneratedWindow]:
        with ThreadPoolExecutor(max_workers=self.model.endpoint_concurrency) as pool:
            return list(pool.map(self._generate, records))

    def _generate(self, record: PromptedWindow) -> GeneratedWindow:
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
        except RequestRefused as exc:
            return self.fail(record, str(exc))
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            return self.fail(record, f"the endpoint's answer is not a completion ({type(exc).__name__}: {exc})")
        return extend(
            GeneratedWindow,
            record,
            model=self.model_label,
            completion=choice.get("text", ""),
            finish_reason=choice.get("finish_reason") or "",
            output_tokens=usage.get("completion_tokens", 0),
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
                if exc.code not in RETRY_STATUS:
                    raise RequestRefused(f"the endpoint refused the request (HTTP {exc.code}: {said})") from None
                problem = f"HTTP {exc.code}: {said}"
            except (OSError, json.JSONDecodeError) as exc:  # refused or dropped connections, timeouts
                problem = f"{type(exc).__name__}: {exc}"
        raise EndpointUnavailable(
            f"{self.url}{path} failed {self.model.endpoint_retries + 1} times (last: {problem}); "
            "check that the server is up, then run again to resume"
        )
