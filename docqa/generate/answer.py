"""The answer contract, written once: the JSON the engine is constrained to write and the parser reads.

`QAResponse` is the parsing model; `response_schema` is derived from it, so what guided decoding
enforces and what parsing accepts cannot drift apart. The length bounds are for guided decoding only
(they keep a rambling model from spending the whole token budget on one answer); parsing does not enforce
them, so a pair out of bounds from a server that ignores the schema is dropped by a filter with its
reason (`empty`, `answer_too_long`) rather than failing the whole window.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docqa.records import QAPair


class _Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(json_schema_extra={"minLength": 1, "maxLength": 300})
    answer: str = Field(json_schema_extra={"minLength": 1, "maxLength": 200})


class QAResponse(BaseModel):
    """`{"pairs": [{"question": ..., "answer": ...}, ...]}`; at most `sampling.max_pairs` pairs are asked for."""

    model_config = ConfigDict(extra="forbid")
    pairs: list[_Pair] = Field(json_schema_extra={"minItems": 1})


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """The schema with `$ref`s replaced by their definitions and pydantic's titles and descriptions left out."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
        return {k: _inline(v, definitions) for k, v in node.items() if k not in ("title", "description", "$defs")}
    if isinstance(node, list):
        return [_inline(v, definitions) for v in node]
    return node


def response_schema(max_pairs: int) -> dict[str, Any]:
    """The JSON schema of `QAResponse`, with the number of pairs bounded by `max_pairs`."""
    schema = QAResponse.model_json_schema()
    schema = _inline(schema, schema.get("$defs", {}))
    schema["properties"]["pairs"]["maxItems"] = max_pairs
    return schema


def parse_completion(text: str) -> list[QAPair]:
    """QA pairs from a completion; raises ValueError when it is not the requested JSON."""
    try:
        response = QAResponse.model_validate_json(text)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ValueError(f"{problem['type']} at {'.'.join(map(str, problem['loc'])) or 'top level'}") from None
    return [QAPair(p.question.strip(), p.answer.strip()) for p in response.pairs]
