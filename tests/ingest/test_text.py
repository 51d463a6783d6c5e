"""The text-layer check and OCR, on real PyMuPDF and real Tesseract; nothing is mocked.

Garbage is made from correct text the way broken producers make it (UTF-8 read as Latin-1, UTF-16 in
the wrong byte order, glyph codes instead of characters, Cyrillic OCRed as Latin look-alikes), so every
garbage case has a correct twin in fixtures/text/plausible/ that must pass. The shared corpus of real
PDFs (../shared/corpus) is used when present and skipped cleanly when not.
"""

from __future__ import annotations

import csv
import hashlib
import html
from pathlib import Path

import pymupdf
import pytest

from docqa.ingest.text import (
    OCRUnavailable,
    PageText,
    capped_dpi,
    check_text_layer,
    is_odd_word,
    ocr_engine_version,
    ocr_page,
    page_text,
    require_ocr,
    tessdata_folder,
)
from tests.conftest import ROOT, SHARED_CORPUS

PLAUSIBLE = ROOT / "tests" / "fixtures" / "text" / "plausible"
CORPUS = SHARED_CORPUS
OCR_DPI = 300  # small print needs it: 7-9 pt text loses a third of its words at 150-200 dpi
MAX_MEGAPIXELS = 25.0


def plausible(name: str) -> str:
    return (PLAUSIBLE / f"{name}.txt").read_text(encoding="utf-8")


ENGLISH = plausible("english_report")
FRENCH = plausible("french_minutes")
RUSSIAN = plausible("russian_contract")

# How an OCR engine without Russian reads Cyrillic: the nearest Latin shapes, digits and punctuation.
CYRILLIC_READ_AS_LATIN = {
    "а": "a", "б": "6", "в": "B", "г": "r", "д": "A", "е": "e", "ё": "e", "ж": ">K", "з": "3", "и": "N",
    "й": "N", "к": "K", "л": "n", "м": "M", "н": "H", "о": "o", "п": "n", "р": "p", "с": "c", "т": "T",
    "у": "y", "ф": "<p", "х": "x", "ц": "U,", "ч": "4", "ш": "W", "щ": "LLI", "ъ": "b", "ы": "bl", "ь": "b",
    "э": "3", "ю": "10", "я": "R",
}  # fmt: skip


def read_as_latin_lookalikes(text: str) -> str:
    """`text` as an OCR engine without Cyrillic reads it: "СТРАХОВАНИЕ" becomes "CTPAXOBAHNE"."""
    def lookalike(char: str) -> str:
        latin = CYRILLIC_READ_AS_LATIN.get(char.lower(), char)
        return latin.upper() if char.isupper() else latin

    return "".join(map(lookalike, text))


def latin_letters_inside_cyrillic_words(text: str) -> str:
    """A bad OCR layer that swaps some Cyrillic letters for identical-looking Latin ones, mid-word."""
    return text.translate(str.maketrans("аеорсухАВЕКМНОРСТХ", "aeopcyxABEKMHOPCTX"))


def shifted_glyph_codes(text: str, shift: int) -> str:
    """A font whose codes are offset from Unicode by a constant: "The" -> "Wkh" for +3. Line breaks are
    not glyphs: text extraction makes them, so they stay."""
    return "".join(char if char == "\n" else chr(ord(char) + shift) for char in text)


def glyph_ids(text: str) -> str:
    """A subset font without a Unicode map: each character becomes its glyph's index, from 3 up."""
    order: dict[str, str] = {}
    return "".join(order.setdefault(char, chr(3 + len(order))) for char in text)


def symbol_font(text: str) -> str:
    """A "symbolic" TrueType font: every code lands in the private-use area at U+F000 + code."""
    return "".join(char if char.isspace() else chr(0xF000 + ord(char)) for char in text)


GARBAGE = [
    ("utf8-read-as-latin1", RUSSIAN.encode("utf-8").decode("latin-1"), "mojibake (UTF-8 read as Latin-1)"),
    ("utf8-read-as-cp1252", FRENCH.encode("utf-8").decode("cp1252"), "mojibake (UTF-8 read as Latin-1)"),
    ("utf16-swapped-english", ENGLISH.encode("utf-16-be").decode("utf-16-le"), "byte-swapped UTF-16"),
    ("utf16-swapped-russian", RUSSIAN.encode("utf-16-be").decode("utf-16-le"), "byte-swapped UTF-16"),
    ("glyph-codes-shifted-by-3", shifted_glyph_codes(ENGLISH, 3), "implausible word shapes"),
    ("glyph-codes-shifted-by-1", shifted_glyph_codes(ENGLISH, 1), "implausible word shapes"),
    ("glyph-codes-shifted-by-minus-29", shifted_glyph_codes(ENGLISH, -29), "private-use / control characters"),
    ("glyph-ids", glyph_ids(ENGLISH), "private-use / control characters"),
    ("symbol-font", symbol_font(ENGLISH), "private-use / control characters"),
    ("cyrillic-ocr-as-latin", read_as_latin_lookalikes("СТРАХОВАНИЕ ИМУЩЕСТВА\n" + RUSSIAN), "implausible word shapes"),
    ("latin-lookalikes-in-words", latin_letters_inside_cyrillic_words(RUSSIAN), "mixed scripts within words"),
    ("empty", "", "too little text"),
    ("page-number-only", "\n  - 12 -  \n", "too little text"),
]


@pytest.mark.parametrize(("text", "reason"), [case[1:] for case in GARBAGE], ids=[case[0] for case in GARBAGE])
def test_garbage_text_is_not_usable_and_says_why(text: str, reason: str):
    verdict = check_text_layer(text)
    assert not verdict.usable
    assert verdict.reason == reason, verdict


def test_generated_garbage_looks_like_the_real_thing():
    """The generators make the strings seen in real broken PDFs, so the table above tests what it says."""
    assert shifted_glyph_codes("The quick brown", 3) == "Wkh#txlfn#eurzq"
    assert read_as_latin_lookalikes("СТРАХОВАНИЕ номер сумма") == "CTPAXOBAHNE HoMep cyMMa"
    assert latin_letters_inside_cyrillic_words("Страхование") == "Cтpaxoвaниe"
    assert glyph_ids("banana") == "\x03\x04\x05\x04\x05\x04"


@pytest.mark.parametrize("path", sorted(PLAUSIBLE.glob("*.txt")), ids=lambda path: path.stem)
def test_correct_text_in_any_language_and_layout_is_usable(path: Path):
    verdict = check_text_layer(path.read_text(encoding="utf-8"))
    assert verdict.usable, verdict
    assert verdict.reason == ""


PLAUSIBLE_WORDS = [
    "getTextPage", "parseHTTPResponse", "setUpClass", "McDonald", "iPhone", "kHz", "mA", "COVID-19", "x86_64",
    "H2O", "Fe2O3", "IPv4Network", "2nd", "Donaudampfschifffahrtsgesellschaft",
    "https://doi.org/10.1145/1542476.1542528",
]  # fmt: skip
ODD_WORDS = [
    "CyMMa", "nepHOA", "npVIMeHeHVIeM", "c6opa", "H8norosbiH", "KB8PT8n8",
    "Wkh#txlfn#eurzq#ir{#mxpsv#ryhu#wkh#od}|#grj#dqg#wkh#fdw",  # a line of text, its spaces shifted to "#"
]  # fmt: skip


@pytest.mark.parametrize("word", PLAUSIBLE_WORDS)
def test_names_units_compounds_and_urls_are_plausible_words(word: str):
    assert not is_odd_word(word)


@pytest.mark.parametrize("word", ODD_WORDS)
def test_cyrillic_read_as_latin_and_run_on_text_are_odd_words(word: str):
    assert is_odd_word(word)


def test_min_chars_counts_visible_characters():
    text = "Total: 42 EUR"  # 11 visible characters
    assert check_text_layer(text, min_chars=11).usable
    assert check_text_layer(text, min_chars=12).reason == "too little text"
    assert check_text_layer(text).reason == "too little text"  # the default asks for 20


# --- generated PDFs ----------------------------------------------------------------------------------

def born_digital_page(text: str, width: float = 595, height: float = 842, font_size: float = 11) -> pymupdf.Document:
    """A page whose text layer is `text`, line breaks kept, set by MuPDF in a font for each script."""
    doc = pymupdf.open()
    page = doc.new_page(width=width, height=height)
    margin = 4.5 * font_size
    body = html.escape(text).replace("\n", "<br>")
    page.insert_htmlbox(page.rect + (margin, margin, -margin, -margin), body, css=f"* {{font-size: {font_size}pt}}")
    return doc


def scanned_page(text: str, hidden_layer: str = "", **page_size: float) -> pymupdf.Document:
    """`text` as a scanner gives it back: the page rendered in grey at 300 dpi (less for a huge page) and
    placed as an image on an empty page. With `hidden_layer`, an invisible text layer says that instead,
    as OCR software and broken producers leave behind."""
    original = born_digital_page(text, **page_size)[0]
    scan = original.get_pixmap(dpi=capped_dpi(original.rect, 300, MAX_MEGAPIXELS), colorspace=pymupdf.csGRAY)
    doc = pymupdf.open()
    page = doc.new_page(width=original.rect.width, height=original.rect.height)
    page.insert_image(page.rect, pixmap=scan)
    if hidden_layer:
        page.insert_textbox(page.rect + (50, 50, -50, -50), hidden_layer, fontsize=11, render_mode=3)
    return doc


def extract(page: pymupdf.Page, *, ocr_enabled: bool = True, languages: tuple[str, ...] = ("eng",)) -> PageText:
    return page_text(
        page,
        ocr_languages=list(languages),
        ocr_dpi=OCR_DPI,
        max_megapixels=MAX_MEGAPIXELS,
        min_chars=20,
        ocr_enabled=ocr_enabled,
    )


def test_a_good_text_layer_is_used_without_ocr():
    doc = born_digital_page(plausible("multilingual_brochure"))
    extracted = extract(doc[0])
    assert (extracted.source, extracted.verdict_reason) == ("layer", "")
    for words in ("The museum is open daily", "Музей открыт", "Το μουσείο", "博物馆每天开放", "ようこそ"):
        assert words in extracted.text


def test_an_image_only_page_is_ocred_into_its_words():
    doc = scanned_page(ENGLISH)
    assert check_text_layer(doc[0].get_text()).reason == "too little text"
    extracted = extract(doc[0])
    assert (extracted.source, extracted.verdict_reason) == ("ocr", "")
    for word in ("Northwind", "Revenue", "dividend", "Lindqvist", "1,284"):
        assert word in extracted.text


def test_a_page_with_a_garbage_layer_is_ocred_instead():
    doc = scanned_page(ENGLISH, hidden_layer=shifted_glyph_codes(ENGLISH, 3))
    assert check_text_layer(doc[0].get_text()).reason == "implausible word shapes"
    extracted = extract(doc[0])
    assert extracted.source == "ocr"
    assert "Northwind" in extracted.text and shifted_glyph_codes("Northwind", 3) not in extracted.text


def test_ocr_in_the_wrong_language_is_caught_like_a_bad_layer():
    """Tesseract reading Russian with English data makes the look-alike garbage old OCR layers have."""
    doc = scanned_page(RUSSIAN)
    wrong_language = extract(doc[0], languages=("eng",))
    assert (wrong_language.source, wrong_language.verdict_reason) == ("ocr", "implausible word shapes")
    right_language = extract(doc[0], languages=("rus",))
    assert (right_language.source, right_language.verdict_reason) == ("ocr", "")
    assert "Поставщик" in right_language.text


def test_with_ocr_disabled_the_layer_comes_back_with_its_reason():
    doc = scanned_page(ENGLISH, hidden_layer=shifted_glyph_codes(ENGLISH, 3))
    extracted = extract(doc[0], ocr_enabled=False)
    assert (extracted.text, extracted.source, extracted.verdict_reason) == (
        doc[0].get_text(), "layer", "implausible word shapes"
    )
    assert [w[4] for w in extracted.words] == doc[0].get_text().split()


def test_missing_language_data_names_the_package_to_install():
    with pytest.raises(OCRUnavailable, match=r"apt-get install tesseract-ocr tesseract-ocr-zz-missing"):
        require_ocr(["eng", "zz_missing"])
    doc = scanned_page(ENGLISH)
    with pytest.raises(OCRUnavailable):
        ocr_page(doc[0], ["zz_missing"], OCR_DPI, MAX_MEGAPIXELS)
    extracted = extract(doc[0], languages=("zz_missing",))
    assert extracted.source == "layer"
    assert extracted.verdict_reason.startswith("too little text; OCR unavailable: Tesseract language data")


def test_dpi_is_lowered_to_keep_the_render_within_the_pixel_budget():
    letter = pymupdf.Rect(0, 0, 612, 792)
    assert capped_dpi(letter, 300, MAX_MEGAPIXELS) == 300  # 8.4 megapixels
    a0 = pymupdf.paper_rect("a0")
    dpi = capped_dpi(a0, 300, MAX_MEGAPIXELS)
    assert dpi < 300
    assert (a0.width / 72 * dpi) * (a0.height / 72 * dpi) <= MAX_MEGAPIXELS * 1e6


def test_the_largest_pdf_page_is_ocred_at_a_capped_resolution():
    """A 200 x 200 inch page would be 3.6 gigapixels at 300 dpi; capped to 4 megapixels it OCRs in seconds."""
    doc = scanned_page("WAREHOUSE FLOOR PLAN", width=14400, height=14400, font_size=300)
    assert capped_dpi(doc[0].rect, OCR_DPI, 4.0) == 10
    assert "WAREHOUSE" in ocr_page(doc[0], ["eng"], OCR_DPI, max_megapixels=4.0)


def test_ocr_engine_version_names_the_engine_that_runs_and_its_data_by_content():
    version = ocr_engine_version(["eng"])
    assert "Tesseract" in version and pymupdf.mupdf_version in version
    eng = hashlib.sha256(b"eng\0" + hashlib.sha256((tessdata_folder() / "eng.traineddata").read_bytes()).digest())
    assert f"(sha256 {eng.hexdigest()[:16]})" in version
    assert ocr_engine_version(["eng", "rus"]) != version


# --- the shared corpus of real PDFs --------------------------------------------------------------------

def corpus_files(group: str) -> list:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/corpus is absent"))]
    with manifest.open(newline="", encoding="utf-8") as rows:
        files = [row["file"] for row in csv.DictReader(rows, delimiter="\t") if row["group"] == group]
    return [pytest.param(CORPUS / file, id=Path(file).stem) for file in files]


# Pages of normal/ whose text layer really is garbage. TAMReview's body font (Cambria, no ToUnicode map)
# extracts as control characters ("\x0b\x0c\x04 @\x04\x0e\x0c\x0f\t\x10\t\x11\x12" for "the Technology"); only its
# title page and the last page, set in other fonts, read correctly. OCR recovers the text (tested below).
GARBAGE_PAGES_IN_NORMAL = {"pdfjs__TAMReview.pdf": {page: "private-use / control characters" for page in range(1, 22)}}


@pytest.mark.parametrize("path", corpus_files("normal"))
def test_every_text_layer_in_the_normal_corpus_is_judged_usable(path: Path):
    unusable = {}
    with pymupdf.open(path) as doc:
        for page in doc:
            verdict = check_text_layer(page.get_text())
            if not verdict.usable and verdict.reason != "too little text":  # no text layer on that page
                unusable[page.number] = verdict.reason
    assert unusable == GARBAGE_PAGES_IN_NORMAL.get(path.name, {})


# In scanned/: which pages have a garbage text layer, and why. pdfplumber__pr-136-example.pdf is a Chinese
# scan with a scanner's OCR layer that is mostly right ("ZOq5年" for "2015年", "说阴" for "说明"): it is
# kept, because Tesseract's chi_sim reading of it is no better ("神应" for "神鹰", "堆至" for "截至").
SCANNED_LAYER_VERDICTS = {
    "camelot__image.pdf": ["too little text"],  # image only
    "pdfminer__pdf-with-jbig2.pdf": ["too little text"],  # image only
    "pdfjs__issue12963.pdf": ["implausible word shapes"] * 8,  # Russian form OCRed as Latin: "Cl>opMa", "HoMep"
    "pdfminer__issue-791-non-unicode-cmap.pdf": ["private-use / control characters"],  # glyph codes shifted by -29
    "pdfplumber__pr-136-example.pdf": [""] * 6,
}


@pytest.mark.parametrize("path", corpus_files("scanned"))
def test_scanned_corpus_layers_are_judged_page_by_page(path: Path):
    with pymupdf.open(path) as doc:
        reasons = [check_text_layer(page.get_text()).reason for page in doc]
    assert reasons == SCANNED_LAYER_VERDICTS[path.name]


OCR_CASES = [  # (file, page, languages, words the OCR text must contain)
    ("scanned/camelot__image.pdf", 0, ("eng",), ["Integrative", "Health", "Physician", "Exchange"]),
    ("scanned/pdfminer__pdf-with-jbig2.pdf", 0, ("eng",), ["Doesn't", "Work"]),
    ("scanned/pdfjs__issue12963.pdf", 0, ("rus",), ["Налоговая", "декларация", "налогу"]),
    ("normal/pdfjs__TAMReview.pdf", 1, ("eng",), ["Technology", "Acceptance", "Model", "Abstract"]),
]


@pytest.mark.parametrize(
    ("file", "page_number", "languages", "words"),
    OCR_CASES,
    ids=[f"{Path(file).stem}-p{page_number}" for file, page_number, *_ in OCR_CASES],
)
def test_ocr_recovers_the_words_of_real_scans_and_broken_layers(file, page_number, languages, words):
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    with pymupdf.open(CORPUS / file) as doc:
        text = ocr_page(doc[page_number], list(languages), OCR_DPI, MAX_MEGAPIXELS)
    assert [word for word in words if word not in text] == []
