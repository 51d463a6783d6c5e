"""QA pair filters: each returns None to keep a pair, or the reason it is dropped.

A filter is called as `f(pair, document)`, where `document` is the window's page texts as the pipeline
holds them, joined by `PAGE_BREAK` (`window_text`), and `pair.support` already holds the grounding score.
Filters that compare words compare them folded by `docqa.quality.folding` (case, accents, punctuation and
digit grouping ignored, numbers whole). A filter whose reason has particulars returns a `Drop` instead of
the bare reason. After empty text, personal data is looked for (`docqa.quality.pii`); then the Docmatix
heuristics, kept as separate, named rules: "unanswerable", code-like text and Q#/A# markers. Then:
refusals and meta-answers, length bounds in tokens, text that is not a question, questions any document
would answer, repetitive answers, questions that contain their answer, pairs copied from the prompt's own
examples, pairs in another language than the document's (`docqa.quality.language`), answers the document
does not support, questions of a cross-page role whose evidence is on one page, and repeated questions.
The checks that ask the model about a pair (round trip, judge) come after these, in
`docqa.quality.verify`. Docmatix also dropped any text matching `\\w+\\.\\w+`, which removes numeric
answers such as "3.5" and abbreviations such as "U.S."; that rule exists here only as an option (off by
default). Dropped pairs are counted per reason and kept with it; nothing is dropped without one.
Duplicates across windows and documents are dropped later, where the whole dataset is seen
(`docqa.quality.dedup`).
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from docqa.config import FilterConfig, PiiConfig
from docqa.generate.prompts import PromptTemplate
from docqa.quality.folding import folded_text, is_number, tokens
from docqa.quality.grounding import STOP_WORDS, support_score
from docqa.quality.language import detect_language, language_name, other_language
from docqa.quality.pii import PERSONAL_DATA, PersonalDataFinder, masked
from docqa.records import DroppedPair, QAPair


@dataclass(frozen=True)
class Drop:
    """A filter's verdict with particulars: the reason, what its counts are broken down by, and the detail
    (as in `DroppedPair`); `question` and `answer`, when set, are written to dropped/ instead of the pair's
    own text (personal data masked)."""

    reason: str
    about: str = ""
    detail: str = ""
    question: str | None = None
    answer: str | None = None


PairFilter = Callable[[QAPair, str], "str | Drop | None"]

# Between the page texts of a window: a form feed, the page break of plain text, which folding reads as
# a space, so a check that ignores pages sees the window as one text.
PAGE_BREAK = "\f"

_CODE_LIKE = re.compile(r"```|[{}]|</?[a-zA-Z][\w-]*>|\b\w+\(\)|\bdef \w+\(|;\s*$|=>")
_QA_MARKERS = re.compile(r"\b[QA]\d+\s*[:.)]")
_DOTTED_WORD = re.compile(r"\w+\.\w+")
_QUESTION_MARKS = ("?", "\uff1f", "\u061f", "\u037e")  # ASCII, full-width (CJK), Arabic, Greek
# Words a question or a request may open with, folded as `tokens` folds them.
_QUESTION_OPENERS = frozenset(
    "what which who whom whose when where why how is are was were do does did can could should would will has "
    "have had may might must shall list name give state identify describe explain summarize summarise compare "
    "find calculate compute according".split()
)
# Words that name a document, its parts or the act of asking about it: a question made of these alone, and
# of stop words, could be asked of any document.
_GENERIC_WORDS = frozenset(
    "what which who whom whose when where why how do does did can could should would will about document "
    "documents doc pdf file page pages text texts content contents this these it its here main mainly primarily "
    "topic topics subject purpose summary summarize summarise overview describe description title type kind "
    "information info say says tell shown show shows written given provided following above below overall "
    "general key point points idea thing things something form report letter invoice article paper sheet image "
    "picture figure table mean means meaning".split()
)
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


def window_text(texts: list[str]) -> str:
    """The `document` filters are given: a window's page texts, joined by `PAGE_BREAK`."""
    return PAGE_BREAK.join(texts)


def not_a_question(pair: QAPair, document: str) -> str | None:
    """A question ends with a question mark (of any script), or opens with an English question word or a
    request ("List the ...", "Name the ..."). A statement, a heading or a pasted passage is none of these."""
    question = pair.question.strip()
    if question.endswith(_QUESTION_MARKS):
        return None
    first = tokens(question)[:1]
    return None if first and first[0] in _QUESTION_OPENERS else "not_a_question"


def generic_question(pair: QAPair, document: str) -> str | None:
    """A question any document would answer ("What is this document about?", "What is this?") with an answer
    that says nothing particular to this document: the question names nothing but the document itself, and
    the answer holds fewer than two words of the document that are not stop words or words about
    documents ("a form", "an invoice", "information"). "What is this?" / "Invoice INV-2024-0187" is kept."""
    if any(_particular(token) for token in tokens(pair.question)):
        return None
    printed = set(tokens(document))
    particular = {token for token in tokens(pair.answer) if _particular(token) and token in printed}
    return "generic_question" if len(particular) < 2 else None


def _particular(token: str) -> bool:
    return is_number(token) or (token not in STOP_WORDS and token not in _GENERIC_WORDS)


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


def language_consistency(pair: QAPair, document: str) -> Drop | None:
    """A pair written in another language than its document's (English about a French page) is dropped,
    when both are long enough to tell (`docqa.quality.language.MIN_LETTERS` letters: the question and the
    answer together for the pair; else no verdict). The document's language is found as the load stage
    found the window's, from the same page texts. A pair read off the PDF's structure is not checked: its
    answer is printed on the page by construction and its question is a fixed template around the page's
    own label, so another language in it is never the model's drift, and short labels with a name or an
    address misread ("What is the Postal address?" -> "Strandvägen 14, Eastmarch EM3 2PL" as Swedish on an
    English form of the sample corpus)."""
    if pair.origin != "llm":
        return None
    document_language = detect_language(document)
    pair_language = other_language(f"{pair.question}\n{pair.answer}", document_language)
    if pair_language:
        detail = f"pair in {language_name(pair_language)}, document in {language_name(document_language)}"
        return Drop("language_mismatch", pair_language, detail)
    return None


def personal_data(config: PiiConfig) -> PairFilter:
    """Pairs holding personal data (`docqa.quality.pii`), written to dropped/ with it masked."""
    finder = PersonalDataFinder(tuple(config.kinds), tuple(config.phone_regions))

    def holds_personal_data(pair: QAPair, document: str) -> Drop | None:
        found = finder.find(pair.question, pair.answer)
        kinds = sorted({f.kind for part in found.values() for f in part})
        if not kinds:
            return None
        question, answer = masked(pair.question, found["question"]), masked(pair.answer, found["answer"])
        return Drop(PERSONAL_DATA, ",".join(kinds), question=question, answer=answer)

    return holds_personal_data


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


def evidence_on_pages(min_pages: int) -> PairFilter:
    """For a role whose questions must draw on several pages (a template's `evidence_pages`): a page is
    evidence when it prints at least two words or numbers of the question and answer (stop words and
    question words aside) that are not printed on every page of the window (a running header is evidence
    of nothing; one common word such as "days" is not either); fewer than `min_pages` such pages, or a
    window of fewer pages, drops the pair (`single_page_evidence`)."""

    def single_page_evidence(pair: QAPair, document: str) -> str | None:
        if pair.origin != "llm":
            return None  # read off one page by construction: the role is the prompt's, not the structure's
        pages = [set(tokens(text)) for text in document.split(PAGE_BREAK)]
        on_every_page = set.intersection(*pages)
        units = {t for t in tokens(f"{pair.question} {pair.answer}") if t not in STOP_WORDS | _QUESTION_OPENERS}
        units -= on_every_page
        evidence = sum(len(units & page) >= 2 for page in pages)
        return "single_page_evidence" if evidence < min_pages else None

    return single_page_evidence


def pair_filters(
    config: FilterConfig, template: PromptTemplate | None, pii: PiiConfig | None = None
) -> list[PairFilter]:
    """The filters in the order they are tried, for pairs written with `template` (None: no prompt, a run
    whose pairs are all read off the PDF's structure). Personal data is looked for first, so that no pair
    holding it reaches dropped/ unmasked under another reason."""
    filters = [
        empty,
        *([personal_data(pii)] if pii and pii.policy != "keep" else []),
        unanswerable,
        refusal,
        code_like,
        qa_markers,
        length_limits(config),
        not_a_question,
        generic_question,
        repetitive,
        answer_in_question,
        *([copied_from(template.instruction_text())] if template else []),
    ]
    if config.match_document_language:
        filters.append(language_consistency)
    if config.min_support:
        filters.append(grounding(config.min_support))
    if config.drop_dotted_words:
        filters.append(dotted_word)
    if template and template.evidence_pages > 1:
        filters.append(evidence_on_pages(template.evidence_pages))
    return filters


@functools.lru_cache(maxsize=8)  # a window's pairs share one document
def _folded_document(document: str) -> str:
    return f" {folded_text(document)} "


def drop_reason(pair: QAPair, document: str, filters: list[PairFilter]) -> str | Drop | None:
    """Score an LLM pair's grounding on `document` (stored on the pair; a structure pair keeps its 1.0), then
    the first filter's reason to drop it."""
    if pair.origin == "llm":
        pair.support = round(support_score(pair.answer, document), 3)
    return next((r for f in filters if (r := f(pair, document))), None)


def apply_filters(
    pairs: list[QAPair], document: str, filters: list[PairFilter]
) -> tuple[list[QAPair], list[DroppedPair]]:
    """Score each LLM pair's grounding on `document` as given (`window_text`; a structure pair's answer is
    printed where its boxes are, support 1.0 by construction), run the filters on it, then drop repeats of
    a question already kept for this window."""
    kept: list[QAPair] = []
    dropped: list[DroppedPair] = []
    seen: set[str] = set()
    for pair in pairs:
        verdict = drop_reason(pair, document, filters)
        if verdict is None and folded_text(pair.question) in seen:
            verdict = "duplicate_question"
        if verdict:
            drop = verdict if isinstance(verdict, Drop) else Drop(verdict)
            question = pair.question if drop.question is None else drop.question
            answer = pair.answer if drop.answer is None else drop.answer
            dropped.append(
                DroppedPair(question, answer, drop.reason, pair.support, drop.about, drop.detail, pair.origin)
            )
        else:
            kept.append(pair)
            seen.add(folded_text(pair.question))
    return kept, dropped
