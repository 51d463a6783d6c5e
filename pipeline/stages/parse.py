"""Parse each completion into typed QA pairs, filter them and locate each kept answer on its page.

A completion that is not the requested JSON (a base model that ran out of tokens mid-string) fails the
window with the finish reason; a window whose pairs were all filtered out fails with the count per
reason. Both end in the rejects table.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.config import FilterConfig
from pipeline.filters import apply_filters, pair_filters
from pipeline.grounding import AnswerLocator
from pipeline.prompts import PromptTemplate
from pipeline.records import AnnotatedWindow, GeneratedWindow, QAPair, extend
from pipeline.stages.base import Stage


class _Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str
    answer: str


class QAResponse(BaseModel):
    """The JSON the engine is asked for (see `pipeline.prompts.response_schema`)."""

    model_config = ConfigDict(extra="forbid")
    pairs: list[_Pair]


def parse_completion(text: str) -> list[QAPair]:
    """QA pairs from a completion; raises ValueError when it is not the requested JSON."""
    try:
        response = QAResponse.model_validate_json(text)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ValueError(f"{problem['type']} at {'.'.join(map(str, problem['loc'])) or 'top level'}") from None
    return [QAPair(p.question.strip(), p.answer.strip()) for p in response.pairs]


class ParseQA(Stage):
    name = "parse"
    input_type = GeneratedWindow
    output_type = AnnotatedWindow

    def __init__(self, config: FilterConfig, templates: list[PromptTemplate]):
        # The copy check compares with the examples of the template each window was prompted with.
        self.filters = {t.prompt_id: pair_filters(config, t.instruction_text()) for t in templates}

    def process(self, record: GeneratedWindow) -> list[AnnotatedWindow]:
        try:
            pairs = parse_completion(record.completion)
        except ValueError as exc:
            detail = f"finish_reason={record.finish_reason}, {record.output_tokens} tokens"
            return [self.fail(record, f"completion is not the requested JSON ({exc}; {detail})")]
        kept, dropped = apply_filters(pairs, "\n".join(record.texts), self.filters[record.prompt_id])
        locator = AnswerLocator(record.words)
        for pair in kept:
            pair.page, pair.boxes = locator.locate(pair.answer)
        annotated = extend(AnnotatedWindow, record, qa=kept, dropped=dropped)
        if not kept:
            counts = Counter(d.reason for d in dropped)
            annotated.error = "filter: no QA pair kept (" + ", ".join(f"{r}: {n}" for r, n in counts.items()) + ")"
        return [annotated]
