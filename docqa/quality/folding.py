"""Text folding: the one definition of "the same words" that filters, grounding and dedup share.

`tokens` folds a text into the tokens every check compares:

- compatibility forms are unified ("ﬁ" reads "fi", full-width "Ａ" reads "a"), case is ignored, and
  accents on Latin, Greek and Cyrillic letters are removed ("Saltö" reads "salto"); marks that change a
  letter of other scripts (Japanese dakuten, Devanagari vowel signs) are kept;
- a word is a run of letters and digits; everything else separates words, so punctuation and symbols
  such as "%", "€" and "_" hold no token of their own;
- each CJK character (ideographs, kana, Hangul) is one token, since those scripts put no space
  between words;
- a number is one token, kept whole: "2,774.04", "2.774,04" and "2774.04" all read "2774.04", while
  "0.35" stays "0.35" and never yields "35". Separators between digits are read as follows: a
  no-break or thin space always groups digits; "," or "." groups them when every group after the first
  has three digits and the first has one to three, not starting with 0 ("1,234,567", "12.500"); when
  both occur, the last one is the decimal point ("2,774.04"). One "," or "." that does not group is
  the decimal point ("184.6", "1,5", "0.350"). Anything else (dates such as "12.05.2024", versions)
  is kept as written. A decimal point cannot be told from a grouping one when three digits follow it,
  so "1,234" and "1.234" both read "1234". A plain space separates numbers: in tables "120 135"
  are two cells, not one number. A number glued to letters is part of their word ("1.5kg", "v0.35", "A4").

Folding is idempotent: the tokens of `folded_text(x)` are the tokens of `x`, so a check gives the same
verdict on raw text and on text already folded.

`script_of` names the script of a letter, for the text-layer checks of the load stage.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# A run of letters and digits, with "." or "," between two digits kept inside it: "0.35" and "v0.35" are
# each one token, so "35" is never found in them.
_TOKEN = re.compile(f"[{_CJK}]|(?:[^\\W_{_CJK}]|(?<=\\d)[.,](?=\\d))+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_DIGIT_GROUPING_SPACE = re.compile(r"(?<=\d)[\u00a0\u2007\u2009\u202f](?=\d)")
_SEPARATOR = re.compile(r"([.,])")
# The alphabets with case, where an accent makes a spelling variant, not another letter.
CASED_SCRIPTS = frozenset({"Latin", "Greek", "Cyrillic"})


@functools.cache  # a text has few distinct characters
def script_of(char: str) -> str | None:
    """The script of a letter ("Latin", "Cyrillic", "Greek", "Arabic", "Hangul", "CJK" for ideographs and
    kana, which Japanese mixes, ...), read from its Unicode name after compatibility folding, so "µ" is
    Greek and full-width or mathematical letters take the script of the letter they style; None for
    anything not a letter."""
    if not char.isalpha():
        return None
    name = unicodedata.name(unicodedata.normalize("NFKC", char)[0], "")
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA")):
        return "CJK"
    return name.partition(" ")[0].capitalize() or None


def _fold_characters(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", _DIGIT_GROUPING_SPACE.sub("", text))
    kept = []
    base = ""
    for char in decomposed:
        if unicodedata.combining(char):
            if script_of(base) in CASED_SCRIPTS:
                continue
        else:
            base = char
        kept.append(char)
    # Recompose what was kept: Hangul syllables and kana with their marks are CJK tokens again.
    return unicodedata.normalize("NFC", "".join(kept)).casefold()


def _groups_thousands(groups: list[str]) -> bool:
    return 1 <= len(groups[0]) <= 3 and not groups[0].startswith("0") and all(len(g) == 3 for g in groups[1:])


def _number(text: str) -> str:
    """A number as one token: grouping removed, the decimal point written ".", or as written when the
    separators follow no convention."""
    parts = _SEPARATOR.split(text)
    groups, separators = parts[::2], set(parts[1::2])
    if not separators:
        return text
    if len(separators) == 1:
        if _groups_thousands(groups):
            return "".join(groups)
        return f"{groups[0]}.{groups[1]}" if len(groups) == 2 else text
    last = parts[-2]
    if parts[1::2].count(last) == 1 and _groups_thousands(groups[:-1]):
        return f"{''.join(groups[:-1])}.{groups[-1]}"
    return text


def tokens(text: str) -> tuple[str, ...]:
    """The folded tokens of a text: words, numbers kept whole, each CJK character alone."""
    return tuple(_number(token) if is_number(token) else token for token in _TOKEN.findall(_fold_characters(text)))


def is_number(token: str) -> bool:
    return _NUMBER.fullmatch(token) is not None


def folded_text(text: str) -> str:
    """The tokens joined by single spaces: `f" {a} " in f" {b} "` asks whether b says a, word for word."""
    return " ".join(tokens(text))
