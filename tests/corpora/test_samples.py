import hashlib
import pathlib
from decimal import Decimal

import pymupdf
import pytest

from docqa.demo.corpus import SAMPLE_FACTS, write_sample_corpus
from docqa.demo.invoice import INVOICE_ITEMS, VAT_RATE
from docqa.demo.layout import STYLES, put_text

EXPECTED_PAGE_COUNTS = {"article.pdf": 2, "form.pdf": 1, "invoice.pdf": 1, "report.pdf": 6}
# Fewest words per page: prose documents need enough text to ask questions about.
MIN_WORDS_PER_PAGE = {"article.pdf": 150, "form.pdf": 30, "invoice.pdf": 50, "report.pdf": 150}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    paths = write_sample_corpus(tmp_path_factory.mktemp("corpus"))
    return {path.name: path for path in paths}


def document_text(path: pathlib.Path) -> str:
    with pymupdf.open(path) as doc:
        # Collapse whitespace so facts that wrap across lines still match.
        return " ".join(" ".join(page.get_text() for page in doc).split())


def test_writes_the_four_documents_sorted(tmp_path: pathlib.Path) -> None:
    paths = write_sample_corpus(tmp_path / "new" / "dir")
    assert [path.name for path in paths] == sorted(EXPECTED_PAGE_COUNTS)
    assert all(path.is_file() and path.parent == tmp_path / "new" / "dir" for path in paths)


@pytest.mark.parametrize("name", sorted(EXPECTED_PAGE_COUNTS))
def test_page_counts_and_text_on_every_page(corpus: dict[str, pathlib.Path], name: str) -> None:
    with pymupdf.open(corpus[name]) as doc:
        assert doc.page_count == EXPECTED_PAGE_COUNTS[name]
        for page in doc:
            assert len(page.get_text().split()) > MIN_WORDS_PER_PAGE[name], page.number


@pytest.mark.parametrize("name", sorted(SAMPLE_FACTS))
def test_sample_facts_appear_in_text(corpus: dict[str, pathlib.Path], name: str) -> None:
    text = document_text(corpus[name])
    for fact in SAMPLE_FACTS[name]:
        assert fact in text


def test_form_has_filled_widgets(corpus: dict[str, pathlib.Path]) -> None:
    with pymupdf.open(corpus["form.pdf"]) as doc:
        page = doc[0]  # widgets only hold a weak reference to their page
        widgets = {widget.field_name: widget for widget in page.widgets()}
        assert widgets["applicant_name"].field_value == "Jonas Lindqvist"
        assert widgets["registration"].field_value == "EM-4471"
        assert widgets["phone"].field_value == ""
        assert widgets["insured"].field_type == pymupdf.PDF_WIDGET_TYPE_CHECKBOX
        assert widgets["insured"].field_value == widgets["insured"].on_state()
        assert widgets["winter_storage"].field_value == "Off"


def test_invoice_amounts_add_up(corpus: dict[str, pathlib.Path]) -> None:
    text = document_text(corpus["invoice.pdf"])
    subtotal = Decimal(0)
    for description, quantity, unit_price in INVOICE_ITEMS:
        amount = quantity * unit_price
        assert f"{description} {quantity} {unit_price:,.2f} {amount:,.2f}" in text
        subtotal += amount
    vat = (subtotal * VAT_RATE).quantize(Decimal("0.01"))
    assert f"Subtotal {subtotal:,.2f}" in text
    assert f"VAT 20 % {vat:,.2f}" in text
    assert f"Total due EUR {subtotal + vat:,.2f}" in text


def test_report_has_route_table_on_page_two(corpus: dict[str, pathlib.Path]) -> None:
    with pymupdf.open(corpus["report.pdf"]) as doc:
        tables = doc[1].find_tables().tables
        assert len(tables) == 1
        rows = tables[0].extract()
        assert len(rows) >= 6
        assert rows[-1][0] == "Total"


def test_output_is_byte_identical_across_runs(tmp_path: pathlib.Path) -> None:
    def digests(out_dir: pathlib.Path) -> dict[str, str]:
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                for path in write_sample_corpus(out_dir)}

    assert digests(tmp_path / "first") == digests(tmp_path / "second")


# The document ids of the sample corpus (sha256 of each file). They key the page cache, the row ids and the
# split: a change to the corpus's bytes changes every one of them, so it must be deliberate.
SAMPLE_SHA256 = {
    "article.pdf": "64d0bc4b9e2112daae9bbfcf23641d3571349ffd354e3b7084503f8dd0dedef5",
    "form.pdf": "4ae53ce3cc865e33acb07cb865d0dfcd329f75fa6acf66cccd4ea117f4cf98db",
    "invoice.pdf": "9eca1900f6ad1a96fc3e36d6f754a0e5a03df46a7784a8d71f30c81b62141cdb",
    "report.pdf": "f42190fdf8a9b570be53da1f7663b6ad4a65f21320714dc860206870825f8b42",
}


def test_document_ids_do_not_change(corpus: dict[str, pathlib.Path]) -> None:
    assert {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in corpus.items()} == SAMPLE_SHA256


def test_text_that_does_not_fit_raises() -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    with pytest.raises(ValueError, match="overflows"):
        put_text(page, pymupdf.Rect(0, 0, 100, 20), "too long for the box " * 10, STYLES["body"])
