"""The language of a text: of each window's pages (set in the load stage), and of a QA pair (the filter that
drops a pair written in another language than its document's).

Identification uses lingua (`lingua-language-detector`), whose models ship inside the wheel, over its 75
languages, in low-accuracy mode (character trigrams only). Compared on the 300 page texts of
shared/corpus/normal in single-language documents, or either language of a mixed one, that have a usable
text layer (2 cores, one process, measured with /tmp scripts over `docqa.ingest.text.page_text`):

| library | pages right | ms per page | peak RSS |
|---|---|---|---|
| lingua 2.1, low-accuracy mode (chosen) | 297 / 300 | 5.4 | 163 MB |
| lingua 2.1, high-accuracy mode | 298 / 300 | 5.9 | 1285 MB (4.6 s to load) |
| pycld2 0.42 | 293 / 300 | 0.09 | 22 MB |
| py3langid 0.4 | 265 / 300 | 0.65 | 144 MB |

pycld2 answers "un" (unknown) for Japanese set with a space between characters and for a Russian drawing's
title block, reads four French pages of survey annexes as English, and fails on control characters;
py3langid names dialects and constructed languages ("wuu" for Chinese financial tables, "vo", "ln" for an
English drawing set); gcld3 has no wheel here and would not build; fasttext-langdetect downloads its model
at run time. lingua's three misses are pages of under 60 letters ("Annexe B Sondage Survey Monkey"), which
the confidence bound below leaves undetermined rather than wrong.

A language is named only when the text holds at least `MIN_LETTERS` letters and lingua gives it at least
`MIN_CONFIDENCE` of its (relative) confidence; otherwise it is "" (undetermined), and nothing is decided on
it. Trigram models alone are not trusted with a QA pair (`other_language`): on snippets cut from those
pages at random word boundaries, they named a confident wrong language for 2-4 % of them, and they read
"The meeting was opened at four in the afternoon by the chair." as Tagalog. The pair check therefore asks
the high-accuracy models to choose among three candidates; on 3,277 snippets of 20 to 64 letters it found
15 in another language than their page's: 11 really were (English answers quoted in a French survey,
English words in Thai formulas), 2 were Scandinavian names in an English table, 2 were formula fragments.
On the 65 pairs the embedded engine wrote (tests/fixtures/completions.jsonl) it drops the 28 English pairs
about French, Spanish, German, Japanese and Thai pages and none about English ones. Cost: 0.2 s for
the first pair in a language (its models load: a process that checked pairs in six languages peaked at
315 MB), 3.5 ms a pair after that.
"""

from __future__ import annotations

import functools

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

MIN_LETTERS = 20  # below this many letters, no language is named
MIN_CONFIDENCE = 0.9  # lingua's confidence (0-1, relative to its other languages) needed to name one
UNDETERMINED = "und"  # ISO 639-2's code for it, where counts are keyed by language (stats.json, the card)


@functools.cache
def _detector() -> LanguageDetector:
    # Built once per process (0.2 s, ~100 MB), on first use, so stages that never ask pickle and start cheaply.
    builder = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode()
    return builder.with_preloaded_language_models().build()


def letters(text: str) -> int:
    return sum(c.isalpha() for c in text)


@functools.lru_cache(maxsize=256)  # a window's pairs are checked against one document text
def detect_language(text: str) -> str:
    """The ISO 639-1 code of the text's language ("fr"), or "" when it is too short or unclear to tell."""
    if letters(text) < MIN_LETTERS:
        return ""
    confidences = _detector().compute_language_confidence_values(text)
    if not confidences or confidences[0].value < MIN_CONFIDENCE:
        return ""
    return confidences[0].language.iso_code_639_1.name.lower()


@functools.cache
def _detector_among(codes: tuple[str, ...]) -> LanguageDetector:
    # High-accuracy mode (1- to 5-gram models) among a few languages: their models load once, on first use.
    return LanguageDetectorBuilder.from_iso_codes_639_1(*map(_iso, codes)).build()


def other_language(text: str, expected: str) -> str:
    """The language of `text` when it is clearly not `expected`, else "" (also when either is unknown).

    Trigrams alone misread short texts (a 60-letter English sentence as Tagalog, a French question as
    Catalan), so the choice is made by lingua's high-accuracy models among three candidates only: the
    expected language, English (what models fall back to) and the trigram models' first guess."""
    if not expected or letters(text) < MIN_LETTERS:
        return ""
    guess = _detector().detect_language_of(text)
    candidates = {expected, "en"} | ({guess.iso_code_639_1.name.lower()} if guess else set())
    if len(candidates) == 1:
        return ""
    best = _detector_among(tuple(sorted(candidates))).compute_language_confidence_values(text)[0]
    found = best.language.iso_code_639_1.name.lower()
    return found if found != expected and best.value >= MIN_CONFIDENCE else ""


def window_language(texts: list[str]) -> str:
    """The language of a window: of its page texts together, so a short page borrows its neighbours' text."""
    return detect_language("\n".join(texts))


def _iso(code: str) -> IsoCode639_1:
    return getattr(IsoCode639_1, code.upper())


def language_name(code: str) -> str:
    """The English name of an ISO 639-1 code ("fr" -> "French"), for prompts and the card; "" for ""."""
    return Language.from_iso_code_639_1(_iso(code)).name.capitalize() if code else ""
