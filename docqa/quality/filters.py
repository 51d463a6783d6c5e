"""QA pair filters: each returns None to keep a pair, or the reason it is dropped.

A filter is called as `f(pair, document)`, where `document` is the window's page text as the pipeline
holds it, and `pair.support` already holds the grounding score. Filters that compare words compare them
folded by `docqa.quality.folding` (case, accents, punctuation and digit grouping ignored, numbers whole).
The Docmatix heuristics are kept as separate, named rules: empty text, "unanswerable", code-like text and
Q#/A# markers. Then: refusals and meta-answers, length bounds in tokens, repetitive answers, questions that
contain their answer, pairs copied from the prompt's own examples, text in a script the document does not
use, answers the document does not support, and repeated questions. Docmatix also dropped any text
matching `\\w+\\.\\w+`, which removes numeric answers such as "3.5" and abbreviations such as "U.S."; that
rule exists here only as an option (off by default). Dropped pairs are counted per reason and kept with
it; nothing is dropped without one. Duplicates across windows and documents are dropped later, where the
whole dataset is seen (`docqa.quality.dedup`).
"""

from __future__ import annotations

import functools
import re
import zlib
from collections import Counter
from collections.abc import Callable

from docqa.config import FilterConfig
from docqa.quality.folding import folded_text, script_of, tokens
from docqa.quality.grounding import support_score
from docqa.records import DroppedPair, QAPair

PairFilter = Callable[[QAPair, str], "str | None"]

_CODE_LIKE = re.compile(r"```|[{}]|</?[a-zA-Z][\w-]*>|\b\w+\(\)|\bdef \w+\(|;\s*$|=>")
_QA_MARKERS = re.compile(r"\b[QA]\d+\s*[:.)]")
_DOTTED_WORD = re.compile(r"\w+\.\w+")
# Refusals and answers about the document instead of from it ("The document does not say").
_REFUSAL = re.compile(
    r"\bas an ai\b|\blanguage model\b|\bi(?: a|\')m sorry\b|\bsorry\b"
    r"|\bi (?:cannot|can\'t|can not|am unable to|do not know|don\'t know)\b"
    r"|\b(?:document|text|page|context|passage)s? (?:does|do|did) ?n[o\']t (?:say|mention|specify|state|provide"
    r"|contain|include|give|indicate|list|show)"
    r"|\bnot (?:mentioned|specified|stated|provided|given|available|included|listed) (?:in|on|by) the "
    r"(?:document|text|page|context|passage)"
    r"|\bno (?:information|mention|data|details) (?:is |are )?(?:given|provided|available|about|on)"
    r"|\b(?:cannot|can\'t|could not|couldn\'t) be (?:determined|found|answered|inferred)"
    r"|^(?:n/?a|unknown|none|not available|not specified|not mentioned|not applicable)\.?$",
    re.IGNORECASE,
)


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
    answer = folded_text(pair.answer)
    return "answer_in_question" if answer and f" {answer} " in f" {folded_text(pair.question)} " else None


def repetitive(pair: QAPair, document: str) -> str | None:
    """Degenerate loops ("105. 105. 105. ..."), which small models fall into."""
    words = pair.answer.split()
    few_distinct_words = len(words) >= 8 and len(set(words)) < 0.5 * len(words)
    compresses_away = len(pair.answer) >= 40 and len(zlib.compress(pair.answer.encode())) < 0.25 * len(pair.answer)
    return "repetitive" if few_distinct_words or compresses_away else None


def refusal(pair: QAPair, document: str) -> str | None:
    return "refusal" if _REFUSAL.search(pair.answer.strip()) else None


def length_limits(config: FilterConfig) -> PairFilter:
    """Lengths in folded tokens (words, whole numbers, each CJK character): they do not depend on the model."""

    def out_of_bounds(pair: QAPair, document: str) -> str | None:
        for name, text, low, high in (
            ("question", pair.question, config.min_question_tokens, config.max_question_tokens),
            ("answer", pair.answer, config.min_answer_tokens, config.max_answer_tokens),
        ):
            count = len(tokens(text))
            if count < low:
                return f"{name}_too_short"
            if count > high:
                return f"{name}_too_long"
        return None

    return out_of_bounds


def _main_script(text: str) -> str | None:
    scripts = Counter(script_of(c) for c in text if c.isalpha())
    return scripts.most_common(1)[0][0] if scripts else None


@functools.lru_cache(maxsize=8)
def _script_shares(document: str) -> dict[str, float]:
    scripts = Counter(script_of(c) for c in document if c.isalpha())
    total = sum(scripts.values())
    return {script: n / total for script, n in scripts.items()}


def script_consistency(min_share: float) -> PairFilter:
    """Questions and answers in the document's scripts: a Latin answer about a Cyrillic form is invented."""

    def script_mismatch(pair: QAPair, document: str) -> str | None:
        shares = _script_shares(document)
        for text in (pair.question, pair.answer):
            script = _main_script(text)
            if shares and script and shares.get(script, 0.0) < min_share:
                return "script_mismatch"
        return None

    return script_mismatch


def grounding(min_support: float) -> PairFilter:
    def ungrounded(pair: QAPair, document: str) -> str | None:
        return "ungrounded" if pair.support < min_support else None

    return ungrounded


def copied_from(prompt_text: str) -> PairFilter:
    """Drop pairs copied from the prompt's own worked examples: small models parrot them."""
    prompt = f" {folded_text(prompt_text)} "

    def copied_from_prompt(pair: QAPair, document: str) -> str | None:
        if pair.origin != "llm":
            return None  # read off the page, not written after the prompt
        question = folded_text(pair.question)
        # Short questions ("Who signed?") occur in any text; only a longer one found verbatim was copied.
        if question.count(" ") >= 3 and f" {question} " in prompt:
            return "copied_from_prompt"
        answer = f" {folded_text(pair.answer)} "
        # An answer from the examples is copied only if the document does not say it too.
        copied = answer.strip() and answer in prompt and answer not in _folded_document(document)
        return "copied_from_prompt" if copied else None

    return copied_from_prompt


def pair_filters(config: FilterConfig, prompt_text: str) -> list[PairFilter]:
    """The filters in the order they are tried; `prompt_text` is the template without the document."""
    filters = [
        empty,
        unanswerable,
        refusal,
        code_like,
        qa_markers,
        length_limits(config),
        repetitive,
        answer_in_question,
        copied_from(prompt_text),
    ]
    if config.min_script_share:
        filters.append(script_consistency(config.min_script_share))
    if config.min_support:
        filters.append(grounding(config.min_support))
    if config.drop_dotted_words:
        filters.append(dotted_word)
    return filters


@functools.lru_cache(maxsize=8)  # a window's pairs share one document
def _folded_document(document: str) -> str:
    return f" {folded_text(document)} "


def apply_filters(
    pairs: list[QAPair], document: str, filters: list[PairFilter]
) -> tuple[list[QAPair], list[DroppedPair]]:
    """Score each LLM pair's grounding on `document` as given (the window's page text; a structure pair's
    answer is printed where its boxes are, support 1.0 by construction), run the filters on it, then drop
    repeats of a question already kept for this window."""
    kept: list[QAPair] = []
    dropped: list[DroppedPair] = []
    seen: set[str] = set()
    for pair in pairs:
        if pair.origin == "llm":
            pair.support = round(support_score(pair.answer, document), 3)
        reason = next((r for f in filters if (r := f(pair, document))), None)
        if reason is None and folded_text(pair.question) in seen:
            reason = "duplicate_question"
        if reason:
            dropped.append(DroppedPair(pair.question, pair.answer, reason, pair.support, pair.origin))
        else:
            kept.append(pair)
            seen.add(folded_text(pair.question))
    return kept, dropped
