"""Grounding: how well a document supports an answer, and where on a page the answer is printed.

`support_score` compares the texts' tokens as `docqa.quality.folding` makes them: compatibility forms,
accents, case and punctuation are folded away ("%" and "€" hold no token), digit grouping is removed
("EUR 2,774.04" reads as "EUR 2774.04") and a number is matched only whole: "471" is not found in
"4471", nor "35" in "0.35", nor "774" in "2,774.04", nor "184" in "184.6". Folding is idempotent, so a
document scores the same whether it is given raw, as the pipeline holds it, or already folded.

`AnswerLocator` finds the answer among the words the load stage kept for each page (their boxes already
in the pixel grid of the page image, from the text layer or from OCR), folded the same way, so it is
tolerant of case, accents, punctuation, line breaks and digit grouping, and works on scanned pages too.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import NamedTuple

from docqa.quality.folding import is_number, tokens
from docqa.records import PageWords

Box = list[float]  # x0, y0, x1, y1 in pixels of the rendered page image

# Words that carry no fact of their own. "percent" is here because its sign, "%", is punctuation.
STOP_WORDS = frozenset(
    "a s an and are as at be been by for from has have in is it its of on or per percent than that the their "
    "there these this those to was were which with".split()
)
# A passage that supports an answer spans at most PASSAGE_SLACK + PASSAGE_PER_TOKEN * (answer tokens) tokens.
PASSAGE_SLACK = 10
PASSAGE_PER_TOKEN = 2


class _Indexed(NamedTuple):
    words: tuple[str, ...]
    positions: dict[str, list[int]]


def _indexed(words: tuple[str, ...]) -> _Indexed:
    positions: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        positions.setdefault(word, []).append(i)
    return _Indexed(words, positions)


@functools.lru_cache(maxsize=8)  # a window's pairs share one document
def _document(text: str) -> _Indexed:
    return _indexed(tokens(text))


def _occurrences(needle: tuple[str, ...], haystack: _Indexed) -> list[int]:
    """Where needle occurs contiguously in haystack."""
    size = len(needle)
    return [i for i in haystack.positions.get(needle[0], ()) if haystack.words[i : i + size] == needle]


def _passage_score(units: list[str], document: _Indexed, width: int) -> float:
    """The best score over passages of `width` document tokens: share of units found, times share of numbers."""
    numbers = sum(map(is_number, units))
    found = sorted((i, k) for k, unit in enumerate(units) for i in document.positions.get(unit, ()))
    in_passage: Counter[int] = Counter()
    best, first = 0.0, 0
    for position, unit in found:
        in_passage[unit] += 1
        while found[first][0] <= position - width:
            in_passage[found[first][1]] -= 1
            in_passage += Counter()  # drops units no longer in the passage
            first += 1
        numbers_found = sum(is_number(units[k]) for k in in_passage)
        best = max(best, len(in_passage) / len(units) * (numbers_found / numbers if numbers else 1.0))
    return best


def support_score(answer: str, document: str) -> float:
    """How well document supports answer, from 0 to 1; either may be raw or folded text.

    1.0 when the answer's tokens occur as one contiguous span of the document's. Otherwise the answer's
    content units (its words that are not stop words, and its numbers) are looked for in passages
    of the document a few times the answer's length, since a fact is stated in one place and words
    scattered over a page support nothing. A passage scores the share of units it holds, in any order,
    times the share of numbers it holds, so each missing number counts twice and an answer whose only
    number is wrong scores 0; the best passage gives the score.
    """
    answer_tokens = tokens(answer)
    if not answer_tokens:
        return 0.0
    document_tokens = _document(document)
    if _occurrences(answer_tokens, document_tokens):
        return 1.0
    units = [token for token in answer_tokens if token not in STOP_WORDS]
    if not units:
        return 0.0
    return _passage_score(units, document_tokens, PASSAGE_SLACK + PASSAGE_PER_TOKEN * len(answer_tokens))


def _page_tokens(words: list[str]) -> tuple[_Indexed, list[int]]:
    """The tokens of a page's words and, for each token, the word it came from."""
    page_tokens, owners = [], []
    for index, word in enumerate(words):
        folded = tokens(word)
        page_tokens.extend(folded)
        owners.extend([index] * len(folded))
    return _indexed(tuple(page_tokens)), owners


def _longest_printed_run(answer: tuple[str, ...], page: _Indexed) -> tuple[int, list[tuple[int, int]]]:
    """The longest run of the answer's tokens, beginning and ending with a token that is not a stop word,
    printed on the page: its length and the (first, last) page tokens of every place it is printed."""
    content = [token not in STOP_WORDS for token in answer]
    for length in range(len(answer), 0, -1):
        for start in range(len(answer) - length + 1):
            end = start + length
            if content[start] and content[end - 1] and (found := _occurrences(answer[start:end], page)):
                return length, [(i, i + length - 1) for i in found]
    return 0, []


def line_boxes(boxes: list[Box]) -> list[Box]:
    """Consecutive word boxes merged into one box per line (a line: boxes that overlap vertically by half)."""
    lines: list[Box] = []
    for x0, y0, x1, y1 in boxes:
        if lines:
            lx0, ly0, lx1, ly1 = lines[-1]
            overlap = min(y1, ly1) - max(y0, ly0)
            if overlap >= 0.5 * min(y1 - y0, ly1 - ly0):
                lines[-1] = [min(x0, lx0), min(y0, ly0), max(x1, lx1), max(y1, ly1)]
                continue
        lines.append([x0, y0, x1, y1])
    return [[round(v, 1) for v in box] for box in lines]


def _with_symbols(words: list[str], first: int, last: int, symbols: set[str]) -> range:
    """Words first..last, widened by the words next to them that are signs the answer has too ("%", "€"),
    which hold no token of their own."""

    def is_symbol(word: str) -> bool:
        return not tokens(word) and word.strip(".,;:()[]") in symbols

    while first > 0 and is_symbol(words[first - 1]):
        first -= 1
    while last + 1 < len(words) and is_symbol(words[last + 1]):
        last += 1
    return range(first, last + 1)


class AnswerLocator:
    """Finds answers on a window's pages, from the words the load stage kept for each page."""

    def __init__(self, pages: list[PageWords]):
        self.pages = [(_page_tokens(page.text), page) for page in pages]

    def locate(self, answer: str) -> tuple[int, list[Box]]:
        """The index of the page that prints the answer and the boxes, in pixels of that page's image, of
        every place it is printed there (one box per line of text).

        When the whole answer is not printed, its longest run of words that is, beginning and ending with
        a word that is not a stop word, is located instead; the page printing the longest run wins, the
        first one on a tie. (-1, []) when no page prints any of it.
        """
        needle = tokens(answer)
        best_page, best_length, best_boxes = -1, 0, []
        symbols = set(answer.split())
        for index, ((printed, owners), page) in enumerate(self.pages):
            length, places = _longest_printed_run(needle, printed)
            if length > best_length:
                boxes = []
                for first, last in places:
                    words = _with_symbols(page.text, owners[first], owners[last], symbols)
                    boxes += line_boxes([page.boxes[i] for i in words])
                best_page, best_length, best_boxes = index, length, boxes
            if best_length == len(needle):
                break
        return best_page, best_boxes
