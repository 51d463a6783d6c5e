"""A page's text: the PDF's own text layer when it can be trusted, Tesseract OCR when it cannot.

A text layer can be present and wrong, with no U+FFFD to say so: a font without a usable Unicode map
gives control or private-use characters, or letters shifted by a constant ("Wkh#txlfn#eurzq"); a
producer that decoded UTF-8 as Latin-1 gives mojibake ("Ð¿Ñ€Ð¸Ð²ÐµÑ‚"); UTF-16 read in the wrong byte
order gives CJK-looking noise; an old OCR layer may have read Cyrillic as Latin look-alikes ("HoMep",
"CyMMa", "H8norosbiH"). A dictionary would tie the check to a few languages, so `check_text_layer`
tests what holds for correct text in any language and script:

- UTF-8 never shows as Latin-1 byte pairs (a lead byte such as Ã or Ð followed by continuation bytes);
- few CJK-range letters turn into Latin, Greek or Cyrillic ones when their two bytes are swapped;
- control and private-use characters are rare (a lone bullet from a symbol font is allowed);
- a word of Latin, Greek or Cyrillic letters is written in one of those scripts;
- such a word keeps its case run-wise (camelCase parts as in "getTextPage" are fine, "CyMMa" is not),
  has no digit followed by a lowercase letter inside it ("c6opa"; "H2O" is fine), and runs at most
  40 letters before a space, hyphen, dot, slash or other joiner.

Scripts without case and word spaces (CJK, Thai, Arabic, Hebrew...) are judged by the first three
tests. Shares are weighted by letters, so a few odd words on a page of correct text do not condemn it.
A page that fails is OCRed with Tesseract through PyMuPDF (MuPDF carries its own Tesseract and reads the
system's language data), and the OCR text is judged the same way.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import itertools
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pymupdf

from docqa.quality.folding import CASED_SCRIPTS, script_of

# Where words may be joined without a space: compounds, abbreviations, paths, URLs, identifiers.
WORD_JOINERS = "-‐‑–—./\\_:@&'’·"
LONGEST_PLAUSIBLE_WORD = 40  # letters between two joiners; more is text whose spaces became symbols

# A share at or above its limit makes the text unusable. The limits sit between what 306 pages of correct
# text in real PDFs (a dozen languages; tables, forms, code, math) show and what garbage shows (in real
# PDFs where there are some, else generated the way producers make it):
#                                                                               correct   garbage
MOJIBAKE_LIMIT = 0.3  # of non-ASCII characters: UTF-8 sequences read as Latin-1    0        0.9-1.0
BYTE_SWAPPED_LIMIT = 0.5  # of letters from U+0800: swapped to Latin/Greek/Cyrillic   <= 0.10   0.8-1.0
UNREADABLE_LIMIT = 0.05  # of visible characters: control, private use, U+FFFD       <= 0.02   0.11-0.75
MIXED_SCRIPT_LIMIT = 0.1  # of letters: in words mixing Latin, Greek, Cyrillic         0        0.97
ODD_WORD_LIMIT = 0.2  # of letters: in words of implausible shape                    <= 0.04   0.27-0.79


@dataclass(frozen=True)
class TextVerdict:
    usable: bool
    reason: str  # empty when usable, else the first test the text fails
    visible_chars: int  # characters that are not whitespace
    mojibake_share: float
    byte_swapped_share: float
    unreadable_share: float
    mixed_script_share: float
    odd_word_share: float


@dataclass(frozen=True)
class PageText:
    text: str
    source: str  # "layer": the PDF's text layer; "ocr": Tesseract
    verdict_reason: str  # why `text` is not usable; empty when it is
    words: tuple = ()  # (x0, y0, x1, y1, word, ...) per word of `text`, in unrotated page coordinates


class OCRUnavailable(RuntimeError):
    """Tesseract or its language data is missing, so no page can be OCRed until it is installed."""


def check_text_layer(text: str, min_chars: int = 20) -> TextVerdict:
    """Whether `text` reads as text in some language, with the reason when it does not."""
    tokens = text.split()
    words = cased_words(text)
    letters = sum(char.isalpha() for char in text)
    scores = TextVerdict(
        usable=True,
        reason="",
        visible_chars=sum(map(len, tokens)),
        mojibake_share=mojibake_share(text),
        byte_swapped_share=byte_swapped_share(text),
        unreadable_share=unreadable_share(tokens),
        mixed_script_share=letter_share([word for word in words if mixes_scripts(word)], letters),
        odd_word_share=letter_share([word for word in words if is_odd_word(word)], letters),
    )
    failures = [
        (scores.visible_chars < min_chars, "too little text"),
        (scores.mojibake_share >= MOJIBAKE_LIMIT, "mojibake (UTF-8 read as Latin-1)"),
        (scores.byte_swapped_share >= BYTE_SWAPPED_LIMIT, "byte-swapped UTF-16"),
        (scores.unreadable_share >= UNREADABLE_LIMIT, "private-use / control characters"),
        (scores.mixed_script_share >= MIXED_SCRIPT_LIMIT, "mixed scripts within words"),
        (scores.odd_word_share >= ODD_WORD_LIMIT, "implausible word shapes"),
    ]
    reason = next((reason for failed, reason in failures if failed), "")
    return dataclasses.replace(scores, usable=not reason, reason=reason)


def letter_share(words: list[str], letters: int) -> float:
    return sum(char.isalpha() for word in words for char in word) / letters if letters else 0.0


# --- encodings read wrongly ------------------------------------------------------------------------

# cp1252 puts printable characters where Latin-1 has C1 controls; mapping them back to their byte
# value lets one pattern find UTF-8 decoded as either.
CP1252_TO_LATIN1 = {
    ord(bytes([byte]).decode("cp1252")): byte
    for byte in range(0x80, 0xA0)
    if byte not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)  # undefined in cp1252
}
UTF8_SEQUENCE_AS_LATIN1 = re.compile(
    "[\u00c2-\u00df][\u0080-\u00bf]|[\u00e0-\u00ef][\u0080-\u00bf]{2}|[\u00f0-\u00f4][\u0080-\u00bf]{3}"
)


def mojibake_share(text: str) -> float:
    """Share of non-ASCII characters that are UTF-8 byte sequences decoded as Latin-1 or cp1252.

    Correct text never has them: "é" or "Ð" followed by a character from U+0080-U+00BF is not a
    spelling in any language, while "Ñ€" is how "р" looks when its two UTF-8 bytes are read one by one.
    """
    non_ascii = sum(ord(char) > 0x7F for char in text)
    if not non_ascii:
        return 0.0
    as_latin1 = text.translate(CP1252_TO_LATIN1)
    return sum(map(len, UTF8_SEQUENCE_AS_LATIN1.findall(as_latin1))) / non_ascii


def byte_swapped_share(text: str) -> float:
    """Share of letters from U+0800 up whose two bytes, swapped, give a Latin, Greek or Cyrillic letter.

    UTF-16 read in the wrong byte order turns "Hello" into U+4800 U+6500 ...: ideographs whose low byte
    is an ASCII letter. In correct CJK or Thai text at most 10% of letters are like that (一 is U+4E00).
    Letters below U+0800 (the alphabets of Europe and the Middle East) are not the ones swapping makes.
    Ligatures such as ﬁ (U+FB01) would count, so the text is NFKC-normalised first.
    """
    normalised = unicodedata.normalize("NFKC", text)
    letters = [ord(char) for char in normalised if 0x800 <= ord(char) <= 0xFFFF and char.isalpha()]
    if not letters:
        return 0.0
    swapped = (((code & 0xFF) << 8) | (code >> 8) for code in letters)
    return sum(is_cased_letter(chr(code)) for code in swapped) / len(letters)


# --- characters no font should map text to ---------------------------------------------------------

def is_unreadable(char: str) -> bool:
    category = unicodedata.category(char)
    return category in ("Co", "Cs", "Cn") or (category == "Cc" and not char.isspace()) or char == "\ufffd"


def unreadable_share(tokens: list[str]) -> float:
    """Share of visible characters that are control, private-use or unassigned characters, or U+FFFD.

    A token of one character is left out: symbol fonts map bullets and check boxes to private use.
    """
    visible = sum(map(len, tokens))
    if not visible:
        return 0.0
    return sum(sum(map(is_unreadable, token)) for token in tokens if len(token) > 1) / visible


# --- word shapes -----------------------------------------------------------------------------------

def is_cased_letter(char: str) -> bool:
    """A Latin, Greek or Cyrillic letter: the alphabets with case, whose letters OCR and broken fonts confuse."""
    return script_of(char) in CASED_SCRIPTS


def cased_words(text: str) -> list[str]:
    """The words with two or more Latin, Greek or Cyrillic letters.

    A word ends at whitespace, at a control character (broken fonts map the space there) and at a
    letter of another script: CJK runs have no spaces, and a Latin word inside one stands on its own.
    """
    words = []
    word: list[str] = []
    for char in text + " ":
        if char.isspace() or unicodedata.category(char) == "Cc" or (char.isalpha() and not is_cased_letter(char)):
            if sum(map(is_cased_letter, word)) >= 2:
                words.append("".join(word))
            word = []
        else:
            word.append(char)
    return words


def mixes_scripts(word: str) -> bool:
    """Letters of two of Latin, Greek and Cyrillic in one run of letters and digits ("Cтpахoвaние").

    One Greek letter is how science writes units and variables ("μm", "Δt", "kΩ"), so it does not count.
    """
    for run in re.findall(r"[^\W_]+", word):
        scripts = collections.Counter(script_of(char) for char in run if char.isalpha())
        if scripts["Greek"] == 1:
            del scripts["Greek"]
        if len(scripts) > 1:
            return True
    return False


def has_case_flip(word: str) -> bool:
    """A lowercase letter followed by capitals that do not start a camelCase part.

    A part is capitals and then two or more lowercase letters ("getText", "parseHTTPResponse"), or, inside
    a name, one capital and one lowercase letter ("setUpClass"). Cyrillic read as Latin look-alikes
    leaves capitals that end the word or meet one lowercase letter: "CyMMa", "nepHOA", "npVIMeHeHVIeM".
    """
    for run in re.findall(r"[^\W\d_]{4,}", word):  # shorter runs are units and brands: kHz, mA, iOS
        cases = [(upper, len(list(group))) for upper, group in itertools.groupby(run, str.isupper)]
        for index, (upper, capitals) in enumerate(cases[1:], start=1):  # the run before a capital one is lowercase
            lowercase_after = cases[index + 1][1] if index + 1 < len(cases) else 0
            inner_part = capitals == 1 and lowercase_after == 1 and index + 2 < len(cases)
            if upper and lowercase_after < 2 and not inner_part:
                return True
    return False


def has_digit_between_letters(word: str) -> bool:
    """Digits between letters and followed by a lowercase one: "c6opa", "H8norosbiH" (OCR reads б as 6).

    Formulas and names put a capital after the digits ("H2O", "Fe2O3", "IPv4Network"), so they pass.
    """
    return any(letter.islower() for letter in re.findall(r"[^\W\d_]\d+([^\W\d_])", word))


def is_run_on(word: str) -> bool:
    """More than LONGEST_PLAUSIBLE_WORD letters with no joiner: spaces replaced by symbols ("Wkh#txlfn#eurzq")."""
    parts = re.split(f"[{re.escape(WORD_JOINERS)}]", word)
    return any(sum(char.isalpha() for char in part) > LONGEST_PLAUSIBLE_WORD for part in parts)


def is_odd_word(word: str) -> bool:
    return has_case_flip(word) or has_digit_between_letters(word) or is_run_on(word)


# --- OCR -------------------------------------------------------------------------------------------

@functools.cache
def tessdata_folder() -> Path:
    """The folder of Tesseract's language data: TESSDATA_PREFIX, else the one `tesseract` reports."""
    try:
        return Path(pymupdf.get_tessdata())
    except RuntimeError as exc:
        raise OCRUnavailable(
            f"no Tesseract language data ({exc}): apt-get install tesseract-ocr tesseract-ocr-eng"
            " (or set TESSDATA_PREFIX to the folder that holds it)"
        ) from exc


def require_ocr(languages: list[str]) -> Path:
    """The tessdata folder, once it is certain to hold every language in `languages`.

    Call it when a run starts, so that a machine without Tesseract fails at once with the fix, not on
    the first scanned page.
    """
    folder = tessdata_folder()
    missing = [language for language in languages if not (folder / f"{language}.traineddata").is_file()]
    if missing:
        packages = " ".join(f"tesseract-ocr-{language.replace('_', '-').lower()}" for language in missing)
        raise OCRUnavailable(
            f"Tesseract language data {missing} not in {folder}: apt-get install tesseract-ocr {packages}"
        )
    return folder


def language_data_digest(languages: list[str]) -> str:
    """sha256 of the traineddata files of `languages` (names and bytes, in order) in the tessdata folder.

    The folder's name says nothing of what it holds: an upgraded `tesseract-ocr-eng` changes OCR text in
    place. Hashed once per process for each folder and languages (the files are megabytes each).
    """
    return _files_digest(require_ocr(languages), tuple(languages))


@functools.cache
def _files_digest(folder: Path, languages: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for language in languages:
        with open(folder / f"{language}.traineddata", "rb") as file:
            digest.update(f"{language}\0".encode())
            digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()


def ocr_engine_version(languages: list[str]) -> str:
    """The OCR engine, for provenance: the Tesseract built into MuPDF (not the system's `tesseract`, whose
    version says nothing about the results) and the language data it reads, by folder and content hash."""
    digest = language_data_digest(languages)
    return f"Tesseract in MuPDF {pymupdf.mupdf_version}, language data {tessdata_folder()} (sha256 {digest[:16]})"


def capped_dpi(page_rect: pymupdf.Rect, dpi: int, max_megapixels: float) -> int:
    """`dpi`, lowered as needed so that the page renders to at most `max_megapixels`."""
    area_square_inches = (page_rect.width / 72) * (page_rect.height / 72)
    if area_square_inches <= 0:
        return dpi
    return max(1, min(dpi, math.floor(math.sqrt(max_megapixels * 1e6 / area_square_inches))))


def ocr_textpage(page: pymupdf.Page, languages: list[str], dpi: int, max_megapixels: float) -> pymupdf.TextPage:
    """What Tesseract reads on the rendered page, ignoring any text layer the page has."""
    tessdata = require_ocr(languages)
    return page.get_textpage_ocr(
        full=True,
        language="+".join(languages),
        dpi=capped_dpi(page.rect, dpi, max_megapixels),
        tessdata=str(tessdata),
    )


def ocr_page(page: pymupdf.Page, languages: list[str], dpi: int, max_megapixels: float) -> str:
    """The text Tesseract reads on the rendered page."""
    return page.get_text(textpage=ocr_textpage(page, languages, dpi, max_megapixels))


def page_text(
    page: pymupdf.Page,
    *,
    ocr_languages: list[str],
    ocr_dpi: int,
    max_megapixels: float,
    min_chars: int,
    ocr_enabled: bool,
) -> PageText:
    """The page's text layer if it is usable, else its OCR text, else the layer with why it is unusable."""
    layer_page = page.get_textpage()
    layer = page.get_text(textpage=layer_page)
    layer_verdict = check_text_layer(layer, min_chars)
    if layer_verdict.usable or not ocr_enabled:
        return PageText(layer, "layer", layer_verdict.reason, tuple(page.get_text("words", textpage=layer_page)))
    try:
        ocr = ocr_textpage(page, ocr_languages, ocr_dpi, max_megapixels)
    except OCRUnavailable as exc:
        return PageText(layer, "layer", f"{layer_verdict.reason}; OCR unavailable: {exc}")
    ocr_text = page.get_text(textpage=ocr)
    words = tuple(page.get_text("words", textpage=ocr))
    return PageText(ocr_text, "ocr", check_text_layer(ocr_text, min_chars).reason, words)
