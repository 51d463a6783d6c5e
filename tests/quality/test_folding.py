"""Text folding, the one definition of "the same words" that filters, grounding and dedup share."""

import json

import pytest

from docqa.quality.folding import folded_text, script_of, tokens
from tests.conftest import ROOT


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Saltö, SALTO!", ("salto", "salto")),  # accents, case and punctuation
        ("ﬁnal Ａ4", ("final", "a4")),  # compatibility forms
        ("EUR 2,774.04", ("eur", "2774.04")),  # digit grouping removed, the number kept whole
        ("2.774,04 €", ("2774.04",)),
        ("12\u202f345,6", ("12345.6",)),  # a thin space groups digits
        ("0.35 and 184.6", ("0.35", "and", "184.6")),  # a decimal point is kept
        ("1,234 and 1.234", ("1234", "and", "1234")),  # three digits after one separator: grouping
        ("1234.567", ("1234.567",)),  # four digits before it: a decimal point
        ("12.05.2024", ("12.05.2024",)),  # no convention: as written
        ("120 135", ("120", "135")),  # a plain space separates numbers
        ("Total: 12.", ("total", "12")),
        ("EM-4471 v0.35 1.5kg", ("em", "4471", "v0.35", "1.5kg")),  # digits glued to letters are one word
        ("foo_bar", ("foo", "bar")),
        ("東京都 abc東京", ("東", "京", "都", "abc", "東", "京")),  # each CJK character alone
        ("が 한국", ("が", "한", "국")),  # marks of other scripts are kept, syllables recomposed
    ],
)
def test_tokens(text, expected):
    assert tokens(text) == expected


def test_folding_twice_changes_nothing_on_real_page_texts():
    """So a check gives the same verdict on text as the load stage hands it on and on folded text."""
    for name in ("completions", "grounding_labels"):
        for line in (ROOT / "tests" / "fixtures" / f"{name}.jsonl").read_text().splitlines():
            document = json.loads(line)["document"]
            assert tokens(folded_text(document)) == tokens(document)


@pytest.mark.parametrize(
    "char, script",
    [("a", "Latin"), ("Ж", "Cyrillic"), ("Ω", "Greek"), ("µ", "Greek"), ("Ａ", "Latin"), ("東", "CJK"),
     ("か", "CJK"), ("ア", "CJK"), ("한", "Hangul"), ("ب", "Arabic"), ("1", None), ("%", None)],
)
def test_script_of(char, script):
    assert script_of(char) == script
