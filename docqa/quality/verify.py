"""Checks that ask the model about each QA pair it wrote: does the answer answer the question?

Grounding (`docqa.quality.grounding`) says that an answer is printed on the page, not that it answers the
question: "Which route is the most profitable?" -> the company's name is printed, and wrong. Two checks
ask the model again, with the engine or endpoint that generated (one engine per replica, so no second
model has to fit on the machine):

- round trip: the model answers the question from the page text alone (`prompts/checks/roundtrip-answer-*`),
  and the two answers must agree (`answers_agree`); a pair whose answers disagree is dropped as
  `roundtrip_mismatch`;
- judge: the model scores the pair against the page text on five rubrics, 1 to 5 each, as JSON
  (`prompts/checks/judge-rubric-*`, the reply constrained to `JUDGE_SCHEMA`); the weighted score is kept in the
  dataset's `checks` column and a pair under `filters.judge_min_score` is dropped as `judge_<rubric>`,
  naming its lowest rubric.

Only pairs that pass every text filter are asked about, since the model's time is the cost, and only
the model's own (origin `llm`): a pair read off the PDF's structure (`docqa.ingest.structure`) prints its
answer where it was read, by construction, so it is neither asked back nor judged. Both checks
are asked with greedy decoding, each reply constrained to its JSON schema. The generate stage calls
`PairChecker.check` on each batch it generated, with its own way of completing prompts; the parse stage
attaches what the model said to the parsed pairs (`attach_checks`) and drops on it (`check_filters`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docqa.config import ConfigError, FilterConfig
from docqa.generate.answer import parse_completion
from docqa.generate.prompt_stage import document_text, encode_prompt, fit_prompt
from docqa.generate.prompts import PromptTemplate, load_template
from docqa.quality.filters import PairFilter, drop_reason, pair_filters, window_text
from docqa.quality.folding import is_number, tokens
from docqa.quality.grounding import STOP_WORDS
from docqa.records import GeneratedWindow, JudgeScores, PairCheck, QAPair

# Prompts as token ids, the JSON schema of the reply, the most tokens to write -> per prompt, the text
# written and the number of tokens it took.
Complete = Callable[[list[list[int]], dict[str, Any], int], list[tuple[str, int]]]

ROUNDTRIP_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": 200}},
    "required": ["answer"],
    "additionalProperties": False,
}

# The rubrics and their weights in the judge's score: those of NVIDIA NeMo Data Designer's "Frontier Judge
# QA Filter" recipe (recipes/vlm-long-document-understanding), whose "visual grounding" (the page is needed)
# is `needs_page` here. Listed heaviest first, which settles ties for the lowest rubric.
RUBRIC_WEIGHTS = {
    "correctness": 0.35,
    "training_signal": 0.30,
    "question_quality": 0.15,
    "needs_page": 0.10,
    "answer_format": 0.10,
}
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {name: {"type": "integer", "minimum": 1, "maximum": 5} for name in RUBRIC_WEIGHTS},
    "required": list(RUBRIC_WEIGHTS),
    "additionalProperties": False,
}


class _RoundTripReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str


class _JudgeReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    correctness: int = Field(ge=1, le=5)
    training_signal: int = Field(ge=1, le=5)
    question_quality: int = Field(ge=1, le=5)
    needs_page: int = Field(ge=1, le=5)
    answer_format: int = Field(ge=1, le=5)


def _content_units(text: str) -> set[str]:
    return {token for token in tokens(text) if token not in STOP_WORDS}


def answers_agree(answer: str, other: str, min_overlap: float) -> bool:
    """Whether two answers to one question say the same, compared folded (`docqa.quality.folding`): their
    numbers, each whole, must be the same set ("EUR 58" and "58 euros" agree; "18 months" and "8 months"
    do not), and of the shorter answer's words and numbers (stop words aside) at least `min_overlap` must
    be in the other ("EUR 58" and "EUR 58 per recorder" agree). An empty answer agrees with nothing."""
    first, second = _content_units(answer), _content_units(other)
    if not first or not second:
        return False
    if {u for u in first if is_number(u)} != {u for u in second if is_number(u)}:
        return False
    return len(first & second) / min(len(first), len(second)) >= min_overlap


def roundtrip_answer(reply: str) -> str:
    """The answer in a round-trip reply; an empty one when the reply is not the requested JSON (a model
    that ran out of tokens), which agrees with no answer."""
    try:
        return _RoundTripReply.model_validate_json(reply).answer.strip()
    except ValidationError:
        return ""


def judge_scores(reply: str) -> JudgeScores | None:
    """The judge's scores from its reply, with their weighted score from 0 (every rubric 1) to 1 (every
    rubric 5); None when the reply is not the requested JSON."""
    try:
        scores = _JudgeReply.model_validate_json(reply).model_dump()
    except ValidationError:
        return None
    score = sum(weight * (scores[name] - 1) / 4 for name, weight in RUBRIC_WEIGHTS.items())
    return JudgeScores(**scores, score=round(score, 3))


def lowest_rubric(scores: JudgeScores) -> str:
    """The rubric with the lowest score; on a tie, the heaviest."""
    return min(RUBRIC_WEIGHTS, key=lambda name: getattr(scores, name))


def attach_checks(pairs: list[QAPair], checks: list[PairCheck]) -> None:
    """Give each parsed pair what the model said about it in the generate stage."""
    by_pair = {(check.question, check.answer): check for check in checks}
    for pair in pairs:
        if check := by_pair.get((pair.question, pair.answer)):
            pair.roundtrip_answer, pair.judge = check.roundtrip_answer, check.judge


def check_filters(config: FilterConfig) -> list[PairFilter]:
    """The filters on what the model said, tried after every text filter (`pair_filters`)."""
    filters: list[PairFilter] = []
    if config.roundtrip:

        def roundtrip_mismatch(pair: QAPair, document: str) -> str | None:
            if pair.origin != "llm":
                return None  # read off the PDF's structure: never asked back (see `PairChecker`)
            if pair.roundtrip_answer is None:
                raise RuntimeError(f"the pair {pair.question!r} passed the text filters but was not asked back")
            agree = answers_agree(pair.answer, pair.roundtrip_answer, config.roundtrip_min_overlap)
            return None if agree else "roundtrip_mismatch"

        filters.append(roundtrip_mismatch)
    if config.judge:

        def judged(pair: QAPair, document: str) -> str | None:
            if pair.origin != "llm":
                return None  # read off the PDF's structure: never judged (see `PairChecker`)
            if pair.judge is None:
                return "judge_no_verdict"
            return f"judge_{lowest_rubric(pair.judge)}" if pair.judge.score < config.judge_min_score else None

        filters.append(judged)
    return filters


class PairChecker:
    """Asks the model about the pairs of generated windows; held by the generate stage, which lends it its
    engine (or endpoint) through a `Complete` function and its tokenizer."""

    def __init__(
        self, config: FilterConfig, templates: list[PromptTemplate], prompts_dir: str | Path, max_model_len: int
    ):
        self.config = config
        self.max_model_len = max_model_len
        self.forms = {t.prompt_id: t.form for t in templates}
        self.filters = {t.prompt_id: pair_filters(config, t) for t in templates}
        checks = [load_template(Path(prompts_dir) / "checks", prompt_id) for prompt_id in config.check_prompts]
        self.roundtrip = {t.form: t for t in checks if t.id.startswith("roundtrip-")} if config.roundtrip else {}
        self.judge = {t.form: t for t in checks if t.id.startswith("judge-")} if config.judge else {}
        for wanted, kind in ((self.roundtrip, "roundtrip-"), (self.judge, "judge-")):
            if wanted and (missing := set(self.forms.values()) - set(wanted)):
                raise ConfigError(f"filters.check_prompts names no {kind} prompt of the form {', '.join(missing)}")

    @property
    def enabled(self) -> bool:
        return bool(self.roundtrip or self.judge)

    def check(self, windows: list[GeneratedWindow], complete: Complete, tokenizer: Any) -> list[GeneratedWindow]:
        """The windows with `checks` set: what the model said about each pair that passes the text filters."""
        asked: list[tuple[int, PairCheck]] = []  # (window index, its check) per pair asked about
        roundtrip_prompts: list[list[int]] = []
        judge_prompts: list[list[int]] = []
        for index, window in enumerate(windows):
            for pair in self._candidates(window):
                check = PairCheck(pair.question, pair.answer)
                asked.append((index, check))
                form = self.forms[window.prompt_id]
                for templates, prompts, budget in (
                    (self.roundtrip, roundtrip_prompts, self.config.roundtrip_max_tokens),
                    (self.judge, judge_prompts, self.config.judge_max_tokens),
                ):
                    if templates:
                        prompt = self.prompt(templates[form], window, pair, tokenizer, budget)
                        prompts.append(prompt)
                        check.prompt_tokens += len(prompt)
        if roundtrip_prompts:
            replies = complete(roundtrip_prompts, ROUNDTRIP_SCHEMA, self.config.roundtrip_max_tokens)
            for (_, check), (reply, written) in zip(asked, replies, strict=True):
                check.roundtrip_answer, check.output_tokens = roundtrip_answer(reply), check.output_tokens + written
        if judge_prompts:
            replies = complete(judge_prompts, JUDGE_SCHEMA, self.config.judge_max_tokens)
            for (_, check), (reply, written) in zip(asked, replies, strict=True):
                check.judge, check.output_tokens = judge_scores(reply), check.output_tokens + written
        checks: list[list[PairCheck]] = [[] for _ in windows]
        for index, check in asked:
            checks[index].append(check)
        return [dataclasses.replace(window, checks=found) for window, found in zip(windows, checks, strict=True)]

    def _candidates(self, window: GeneratedWindow) -> list[QAPair]:
        """The window's pairs that pass every text filter: those the parse stage will drop on the checks."""
        if window.error:
            return []
        try:
            pairs = parse_completion(window.completion)
        except ValueError:  # the parse stage fails the window
            return []
        document = window_text(window.texts)
        return [pair for pair in pairs if drop_reason(pair, document, self.filters[window.prompt_id]) is None]

    def prompt(
        self, template: PromptTemplate, window: GeneratedWindow, pair: QAPair, tokenizer: Any, budget: int
    ) -> list[int]:
        """The check's prompt about one pair, the page text cut from its end to leave `budget` tokens for the reply."""
        document = document_text(window.texts, template.page_separator)

        def encode(text: str) -> list[int]:
            return encode_prompt(tokenizer, template, text, 0, question=pair.question, answer=pair.answer)

        prompt, _, _ = fit_prompt(tokenizer, encode, document, self.max_model_len - budget)
        return prompt
