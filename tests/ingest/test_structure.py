"""QA pairs read off a PDF's structure: on the generated sample PDFs (whose tables, fields and lines are
known from the code that draws them), on a generated PDF that asks one question twice, and on real PDFs
from ../shared/corpus (skipped when absent). Real PyMuPDF, the real load worker and the real parse stage."""

import json

import pymupdf
import pytest

from docqa.config import FilterConfig, InputConfig, LimitsConfig, QAConfig, RenderConfig, TextConfig
from docqa.demo.form import FORM_SECTIONS
from docqa.demo.invoice import INVOICE_DETAILS, INVOICE_ITEMS, money
from docqa.demo.layout import PAGE, draw_table
from docqa.demo.report import ROUTE_TABLE
from docqa.generate.prompts import load_template
from docqa.ingest.load import LoadDocuments
from docqa.quality.annotate import ParseQA
from docqa.quality.folding import folded_text
from docqa.records import GeneratedWindow, SourceDocument, extend
from tests.conftest import ROOT

STRUCTURE_ONLY = QAConfig(generators=["table", "form", "key_value"], max_structure_pairs_per_page=0)


def load(paths):
    return LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig())([SourceDocument(str(p)) for p in paths])


@pytest.fixture(scope="module")
def samples(sample_corpus):
    return {w.source_path.rsplit("/", 1)[-1]: w for w in load(sample_corpus) if w.window == 0}


def asked(window, origin):
    return [(p.question, p.answer) for p in window.structure_pairs if p.origin == origin]


def test_form_fields_are_asked_by_their_printed_label(samples):
    expected = []
    for fields in FORM_SECTIONS.values():
        for name, label, value in fields:
            if isinstance(value, bool):
                expected.append((f'Is "{label}" checked?', "Yes" if value else "No"))
            elif value:  # an empty field asks nothing
                # "From" and "To" (stop words only) ask nothing: the field's name ("period_from") is asked for
                expected.append((f"What is the {name.replace('_', ' ') if label in ('From', 'To') else label}?", value))
    assert asked(samples["form.pdf"], "form") == expected


def test_invoice_items_are_asked_by_column_and_row_and_its_totals_by_their_labels(samples):
    invoice = samples["invoice.pdf"]
    header = ["Qty", "Unit price (EUR)", "Amount (EUR)"]
    expected = [
        (f"What is the {column} of {item}?", value)
        for item, quantity, price in INVOICE_ITEMS
        for column, value in zip(header, [str(quantity), money(price), money(quantity * price)])
    ]
    assert asked(invoice, "table") == expected
    lines = dict((q, a) for q, a in asked(invoice, "key_value"))
    assert lines["What is the Total due?"] == "EUR 2,774.04" and lines["What is the VAT 20 %?"] == "462.34"
    # The details beside the seller's address; "Invoice number" shares its line with the address, which
    # makes three parts, and is left out rather than guessed.
    assert {f"What is the {label}?": value for label, value in INVOICE_DETAILS[1:]}.items() <= lines.items()


def test_report_table_cells_are_asked_by_header_and_route(samples):
    header = [" ".join(h.split()) for h in ROUTE_TABLE[0]]
    expected = [
        (f"What is the {header[c]} of {row[0]}?", row[c]) for row in ROUTE_TABLE[1:] for c in range(1, len(row))
    ]
    report = samples["report.pdf"]
    assert asked(report, "table") == expected
    assert {p.page for p in report.structure_pairs} == {1}  # the page that prints the table


def test_each_answer_is_printed_inside_its_boxes(samples):
    for window in samples.values():
        for pair in window.structure_pairs:
            if pair.answer in ("Yes", "No"):
                continue  # a check box's state is drawn, not written
            words = window.words[pair.page]
            inside = [
                text for text, (x0, y0, x1, y1) in zip(words.text, words.boxes)
                if any(b[0] <= (x0 + x1) / 2 <= b[2] and b[1] <= (y0 + y1) / 2 <= b[3] for b in pair.boxes)
            ]
            assert folded_text(" ".join(inside)) == folded_text(pair.answer), (window.source_path, pair)


def test_the_structure_pairs_are_cached_with_the_pages(sample_corpus, tmp_path):
    from docqa.runtime.page_cache import PageCache

    cache = PageCache(str(tmp_path / "cache"), "k")
    stage = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig(), cache)
    (fresh,) = [w for w in stage([SourceDocument(str(sample_corpus[1]))])]
    (cached,) = [w for w in stage([SourceDocument(str(sample_corpus[1]))])]
    assert cached.from_cache and cached.structure_pairs == fresh.structure_pairs != []


def two_tables(path, totals):
    doc = pymupdf.open()
    for total in totals:
        page = doc.new_page(width=PAGE.width, height=PAGE.height)
        page.insert_text((56, 80), "Monthly statement of the reading room", fontsize=12)
        draw_table(page, 56, 120, [200, 80, 80], [["Item", "Copies", "Price"], ["Prints", "12", "3.00"], ["Total", "12", total]])
    doc.save(path)
    return path


def test_a_question_asked_twice_with_different_answers_is_dropped_as_ambiguous(tmp_path):
    (window,) = load([two_tables(tmp_path / "statement.pdf", ["3.00", "4.50"])])
    (annotated,) = ParseQA(FilterConfig(), [], qa=STRUCTURE_ONLY)([window])
    kept = {p.question: p.answer for p in annotated.qa}
    assert kept == {"What is the Copies of Prints?": "12", "What is the Price of Prints?": "3.00", "What is the Copies of Total?": "12"}
    ambiguous = sorted((d.question, d.answer) for d in annotated.dropped if d.reason == "ambiguous_labels")
    assert ambiguous == [("What is the Price of Total?", "3.00"), ("What is the Price of Total?", "4.50")]


def test_pairs_beyond_the_page_limit_are_dropped_with_a_reason(samples):
    report = samples["report.pdf"]
    (annotated,) = ParseQA(FilterConfig(), [], qa=QAConfig(generators=["table"], max_structure_pairs_per_page=10))([report])
    assert len(annotated.qa) == 10
    rows, columns = {p.question.split(" of ")[1] for p in annotated.qa}, {p.question.split(" of ")[0] for p in annotated.qa}
    assert len(rows) >= 4 and len(columns) >= 3  # spread over the table, not one of its columns
    assert [d.reason for d in annotated.dropped] == ["over_page_limit"] * 25
    again = ParseQA(FilterConfig(), [], qa=QAConfig(generators=["table"], max_structure_pairs_per_page=10))([report])
    assert again[0].qa == annotated.qa


def test_the_sample_corpus_yields_three_pairs_a_page_with_a_stand_in_completion(sample_corpus):
    """The LLM's completion is a fixed stand-in (one pair about nothing on the page), so this measures what
    the structure gives through the default filters and page limit, without an engine."""
    template = "docmatix-qa-completion-v1"
    completion = json.dumps({"pairs": [{"question": "What colour is the cover?", "answer": "Blue"}]})
    windows = [
        extend(GeneratedWindow, w, prompt_id=template, completion=completion, finish_reason="stop")
        for w in load(sample_corpus)
    ]
    annotated = ParseQA(FilterConfig(), [load_template(ROOT / "prompts", template)])(windows)
    pages = sum(len(w.pages) for w in annotated)
    structure = [p for w in annotated for p in w.qa if p.origin != "llm"]
    assert pages == 10 and len(structure) >= 3 * pages
    assert all(p.support == 1.0 and p.page >= 0 and p.boxes for p in structure)


# --- real PDFs -------------------------------------------------------------------------------------

def corpus_pairs(shared_corpus, name):
    path = shared_corpus / "normal" / name
    if not path.exists():
        pytest.skip(f"{name} is not in the shared corpus")
    return [p for w in load([path]) for p in w.structure_pairs]


def test_a_real_table_is_read_cell_by_cell(shared_corpus):
    """A campaign contribution report (camelot's test file): a ruled table on a page rotated by 90 degrees."""
    pairs = corpus_pairs(shared_corpus, "camelot__schools.pdf")
    assert ("What is the First Name of Lidstad?", "Dick & Peg") in [(p.question, p.answer) for p in pairs]
    assert {p.origin for p in pairs} == {"table"}


def test_a_real_invoice_gives_its_totals(shared_corpus):
    """A Polish VAT invoice (pdfminer's test file): label/value lines and the totals row of its table."""
    pairs = {(p.question, p.answer) for p in corpus_pairs(shared_corpus, "pdfminer__issue-625-identity-cmap.pdf")}
    assert {("What is the Do zapłaty?", "148,83 PLN"), ("What is the Wartość brutto of Razem?", "148,83")} <= pairs


def test_unclear_check_box_labels_ask_nothing(shared_corpus):
    """A filled IRS 1040 (pdf.js's test file): most check boxes sit beside sentences that run on to the next
    line, or beside line numbers; a label must be a text block of its own, printed next to the box (the
    dependents' column of boxes is followed, a column further on, by the label of a number field)."""
    questions = [p.question for p in corpus_pairs(shared_corpus, "pdfjs__prefilled_f1040.pdf")]
    assert not any("If someone can claim" in q or "even if only one had" in q for q in questions)
    assert not any("Dependents on 6c not entered above" in q for q in questions)


def test_a_two_column_table_of_topics_and_comments_asks_nothing(shared_corpus):
    """A survey report (pdfplumber's test file): a ruled table of topics and the comments made on each."""
    questions = [p.question for p in corpus_pairs(shared_corpus, "pdfplumber__chelsea_pdta.pdf")]
    assert "What is the Carte du réseau?" not in questions
    assert "What is the NEUTRE?" in questions  # a bar chart's label and value, printed side by side

def test_structure_only_builds_a_dataset_without_any_model(sample_corpus, tmp_path):
    """The model named here does not exist: the run must not look for it, nor build a prompt."""
    from docqa.config import load_config
    from docqa.run import run_pipeline
    from tests.conftest import load_fresh

    config = load_config(ROOT / "configs" / "default.yaml", [
        f"prompt.directory={ROOT / 'prompts'}", "qa.generators=[table,form,key_value]", f"model.name={tmp_path / 'no-model'}",
        "output.cache_dir=null", "run.runner=local", f"output.dir={tmp_path / 'ds'}",
        f"input.paths={json.dumps([str(p) for p in sample_corpus])}",
    ])
    stats = run_pipeline(config)
    assert set(stats["qa_kept_by_origin"]) == {"table", "form", "key_value"} and stats["prompt_tokens"] == 0
    assert stats["qa_kept"] >= 3 * 10  # the sample corpus has 10 pages
    # The report's last two pages hold no table, field or label/value line: their window is rejected, saying so.
    assert stats["rejects_by_reason"] == {"filter: no QA pair kept (none was written nor read off the pages)": 1}
    rows = load_fresh(tmp_path / "ds", split="train")
    assert {t["origin"] for row in rows for t in row["texts"]} == {"table", "form", "key_value"}
