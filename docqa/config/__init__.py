"""Run configuration: YAML in `configs/`, validated here, every field described in the section modules
beside this one (ingest, generate, quality, output, run).

`load_config(path, overrides)` reads a YAML file, applies `--set a.b=c` overrides and validates the
result. The resolved config is written next to the dataset so a run can be reproduced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from docqa.config.generate import EMBEDDED_MODEL, ModelConfig, PromptConfig, QAConfig, SamplingConfig
from docqa.config.ingest import InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.config.output import CostConfig, OutputConfig
from docqa.config.quality import PAGE_DISTANCE, PAIR_PAGE_DISTANCE, DecontaminateConfig, FilterConfig, PiiConfig
from docqa.config.run import RunConfig
from docqa.config.section import Section
from docqa.errors import UserError
from docqa.redaction import redact, redacted_fields

__all__ = [
    "EMBEDDED_MODEL", "PAGE_DISTANCE", "PAIR_PAGE_DISTANCE", "Config", "ConfigError", "CostConfig",
    "DecontaminateConfig", "FilterConfig", "InputConfig", "LimitsConfig", "ModelConfig", "OutputConfig", "PiiConfig",
    "PromptConfig", "QAConfig", "RenderConfig", "RunConfig", "SamplingConfig", "Section", "TextConfig",
    "apply_override",
    "dump_config", "load_config",
]


class Config(Section):
    input: InputConfig = Field(default_factory=InputConfig, description="Which PDFs to read.")
    render: RenderConfig = Field(default_factory=RenderConfig, description="Page images.")
    text: TextConfig = Field(default_factory=TextConfig, description="Page text: text layer, OCR.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Bounds per document.")
    qa: QAConfig = Field(default_factory=QAConfig, description="Where QA pairs come from: the LLM, the PDF's structure.")
    prompt: PromptConfig = Field(default_factory=PromptConfig, description="Prompt template.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="LLM and engine.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Generation parameters.")
    filters: FilterConfig = Field(default_factory=FilterConfig, description="QA pair filters.")
    pii: PiiConfig = Field(default_factory=PiiConfig, description="Personal data in QA pairs.")
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
        problem = "unknown field (see docqa/config/)" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{field}: {problem}")
    return "; ".join(problems)


def dump_config(config: Config) -> str:
    """The resolved config as YAML, with what its secret fields hold redacted (`docqa.redaction`)."""
    data = redact(config.model_dump(mode="json"), Config, config.output.source_paths)
    return yaml.safe_dump(data, sort_keys=False)
