"""QA pair filters: each returns None to keep a pair, or the reason it is dropped.

A filter is called as `f(pair, document)`, where `document` is the window's page text, normalised with
`normalised_text`. The Docmatix heuristics are kept as separate, named rules: empty text,
"unanswerable", code-like text and Q#/A# markers. Then: over-long texts, repetitive answers, questions that
contain their answer, pairs copied from the prompt's own examples, and repeated questions. Docmatix also dropped any text matching `\\w+\\.\\w+`, which removes numeric answers such
as "3.5" and abbreviations such as "U.S."; that rule exists here only as an option (off by default).
Dropped pairs are counted per reason; nothing is dropped without one.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

from pipeline.config import FilterConfig
from pipeline.records import DroppedPair, QAPair

PairFilter = Callable[[QAPair, str], "str | None"]

_CODE_LIKE = re.compile(r"```|[{}]|</?[a-zA-Z][\w-]*>|\b\w+\(\)|\bdef \w+\(|;\s*$|=>")
_QA_MARKERS = re.compile(r"\b[QA]\d+\s*[:.)]")
_DOTTED_WORD = re.compile(r"\w+\.\w+")
_NON_WORD = re.compile(r"\W+")


def _either(pair: QAPair, pattern: re.Pattern[str]) -> bool:
    return bool(pattern.search(pair.question) or pattern.search(pair.answer))


def empty(pair: QAPair, document: str) -> str | None:
    return "empty" if not pair.question.strip() or not pair.answer.strip() else None


def unanswerable(pair: QAPair, document: str) -> str | None:
    return "unanswerable" if "unanswerable" in pair.answer.lower() else None


def code_like(pair: QAPair, document: str) -> str | None:
    return "code_like" if _either(pair, _CODE_LIKE) else None


def qa_markers(pair: QAPair, document: str) -> str | None:
    return "qa_markers" if _either(pair, _QA_MARKERS) else None


def dotted_word(pair: QAPair, document: str) -> str | None:
    return "dotted_word" if _either(pair, _DOTTED_WORD) else None


def answer_in_question(pair: QAPair, document: str) -> str | None:
    """A question that contains its own answer teaches nothing ("Total: 12" / "12")."""
    answer = normalised_text(pair.answer)
    return "answer_in_question" if answer and f" {answer} " in f" {normalised_text(pair.question)} " else None


def repetitive(pair: QAPair, document: str) -> str | None:
    """Degenerate loops ("105. 105. 105. ..."), which small models fall into."""
    words = pair.answer.split()
    few_distinct_words = len(words) >= 8 and len(set(words)) < 0.5 * len(words)
    compresses_away = len(pair.answer) >= 40 and len(zlib.compress(pair.answer.encode())) < 0.25 * len(pair.answer)
    return "repetitive" if few_distinct_words or compresses_away else None


def length_limits(config: FilterConfig) -> PairFilter:
    def too_long(pair: QAPair, document: str) -> str | None:
        if len(pair.question) > config.max_question_chars:
            return "question_too_long"
        return "answer_too_long" if len(pair.answer) > config.max_answer_chars else None

    return too_long


def copied_from(prompt_text: str) -> PairFilter:
    """Drop pairs copied from the prompt's own worked examples: small models parrot them."""
    prompt = f" {normalised_text(prompt_text)} "

    def copied_from_prompt(pair: QAPair, document: str) -> str | None:
        question = normalised_text(pair.question)
        # Short questions ("Who signed?") occur in any text; only a longer one found verbatim was copied.
        if question.count(" ") >= 3 and f" {question} " in prompt:
            return "copied_from_prompt"
        answer = f" {normalised_text(pair.answer)} "
        # An answer from the examples is copied only if the document does not say it too.
        return "copied_from_prompt" if answer.strip() and answer in prompt and answer not in f" {document} " else None

    return copied_from_prompt


def pair_filters(config: FilterConfig, prompt_text: str) -> list[PairFilter]:
    """The filters in the order they are tried; `prompt_text` is the template without the document."""
    filters = [
        empty,
        unanswerable,
        code_like,
        qa_markers,
        length_limits(config),
        repetitive,
        answer_in_question,
        copied_from(prompt_text),
    ]
    if config.drop_dotted_words:
        filters.append(dotted_word)
    return filters


def normalised_text(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


def apply_filters(
    pairs: list[QAPair], document: str, filters: list[PairFilter]
) -> tuple[list[QAPair], list[DroppedPair]]:
    """Run every filter on every pair, then drop repeats of a question already kept for this window."""
    document = normalised_text(document)
    kept: list[QAPair] = []
    dropped: list[DroppedPair] = []
    seen: set[str] = set()
    for pair in pairs:
        reason = next((r for f in filters if (r := f(pair, document))), None)
        if reason is None and normalised_text(pair.question) in seen:
            reason = "duplicate_question"
        if reason:
            dropped.append(DroppedPair(pair.question, pair.answer, reason))
        else:
            kept.append(pair)
            seen.add(normalised_text(pair.question))
    return kept, dropped
