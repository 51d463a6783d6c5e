"""Parsing and filtering, on hand-written cases and on a table of real completions from the engine."""

import json

import pytest

from docqa.config import FilterConfig
from docqa.generate.answer import parse_completion
from docqa.generate.prompts import load_template
from docqa.quality.annotate import ParseQA
from docqa.records import Failure, GeneratedWindow
from tests.conftest import ROOT

CAPTURED = ROOT / "tests" / "fixtures" / "completions.jsonl"
LABELLED = ROOT / "tests" / "fixtures" / "grounding_labels.jsonl"


def parse(completion, finish_reason="stop", template="docmatix-qa-completion-v1", text="", **filters):
    stage = ParseQA(FilterConfig(**filters), [load_template(ROOT / "prompts", template)])
    record = GeneratedWindow(
        "doc.pdf", "id", 1, 0, [0], texts=[text], prompt_id=template, completion=completion,
        finish_reason=finish_reason, output_tokens=9,
    )
    (annotated,) = stage([record])
    return annotated


def pairs(*qa):
    return json.dumps({"pairs": [{"question": q, "answer": a} for q, a in qa]})


@pytest.mark.parametrize(
    "question, answer, reason",
    [
        ("What is the unit price of item 3?", "3.5", None),  # Docmatix's \w+\.\w+ rule would drop this
        ("Which country is the buyer in?", "the U.S.", None),
        ("Who chairs the board?", "unanswerable", "unanswerable"),
        ("Who chairs the board?", "  ", "empty"),
        ("What does the script print?", "print('x'); return {}", "code_like"),
        ("Q1: what is the total? A1: 12", "12", "qa_markers"),
        ("Total amount due: EUR 12.40. What is the total?", "EUR 12.40", "answer_in_question"),
        ("When does the bakery close on Saturdays?", "14:00", "copied_from_prompt"),
        ("Who chaired the session?", "J. Alvarez", "copied_from_prompt"),
        ("Who signed?", " ".join(f"w{i}" for i in range(151)), "answer_too_long"),
        ("Who?", "Maria Keller", "question_too_short"),
        ("What is the name of the road?", "The new road. 105. 105. 105. 105. 105. 105. 105. 105.", "repetitive"),
        ("What is the code?", "1" + "0" * 60, "repetitive"),
        ("Who chairs the board?", "The document does not mention the chair.", "refusal"),
        ("Who chairs the board?", "N/A", "refusal"),
        ("Who chairs the board?", "I'm sorry, I cannot tell.", "refusal"),
        ("Кто подписал этот счёт?", "Maria Keller", "language_mismatch"),
    ],
)
def test_each_filter_names_its_reason(question, answer, reason):
    """The document states every answer (except those copied from the prompt: a document that says it too
    keeps it, tested below), so only the filter under test can drop the pair."""
    text = "The invoice was signed by Maria Keller." + ("" if reason == "copied_from_prompt" else f" {answer}.")
    annotated = parse(pairs((question, answer), ("Who signed the invoice?", "Maria Keller")), text=text)
    assert [p.question for p in annotated.qa][-1] == "Who signed the invoice?"
    assert [d.reason for d in annotated.dropped] == ([reason] if reason else [])


def test_an_answer_from_the_prompt_examples_is_kept_when_the_document_says_it_too():
    annotated = parse(pairs(("When does the shop close?", "14:00")), text="The shop closes at 14:00 on weekdays.")
    assert [p.answer for p in annotated.qa] == ["14:00"]


def test_the_docmatix_dotted_word_rule_is_an_option():
    text = "VAT rate 20.5 %, paid by Kim."
    annotated = parse(pairs(("What is the VAT rate?", "20.5 %"), ("Who paid?", "Kim")), text=text, drop_dotted_words=True)
    assert [d.reason for d in annotated.dropped] == ["dotted_word"]


@pytest.mark.parametrize(
    "source, answer, support",
    [
        ("report.pdf p. 5-6", "35", 0.0),  # the page says "EUR 0.35 for 2022"
        ("invoice.pdf p. 1-1", "774", 0.0),  # the page says "Total due EUR 2,774.04"
        ("invoice.pdf p. 1-1", "2,774.04", 1.0),
        ("invoice.pdf p. 1-1", "2774.04", 1.0),
    ],
)
def test_the_parse_stage_matches_numbers_whole(source, answer, support):
    """On a page text captured from the load stage: a number is supported only by the whole number."""
    window = next(w for w in map(json.loads, LABELLED.read_text().splitlines()) if w["source"] == source)
    annotated = parse(pairs(("What is the amount?", answer)), template=window["prompt_id"], text=window["document"])
    (pair,) = [*annotated.qa, *annotated.dropped]
    assert pair.support == support
    assert [d.reason for d in annotated.dropped] == ([] if support else ["ungrounded"])


def test_a_question_about_a_japanese_page_is_checked_on_the_letters_it_shows():
    """Japanese pages set Latin names and numbers in full-width forms: they count as Latin letters and as
    digits, and each CJK character is a token, so the price is found and the Latin question is kept."""
    annotated = parse(pairs(("What does the ABC123 kettle cost?", "500円")), text="製品ＡＢＣ１２３の価格は５００円です。")
    assert [(p.answer, p.support) for p in annotated.qa] == [("500円", 1.0)]


def test_repeated_questions_are_dropped_after_the_first():
    text = "Total: 12 EUR, paid by Kim."
    annotated = parse(pairs(("What is the total?", "12"), ("what is the TOTAL", "12 EUR"), ("Who paid?", "Kim")), text=text)
    assert [(p.question, p.answer) for p in annotated.qa] == [("What is the total?", "12"), ("Who paid?", "Kim")]
    assert [d.reason for d in annotated.dropped] == ["duplicate_question"]


def test_a_window_with_nothing_kept_is_rejected_with_counts():
    annotated = parse(pairs(("Q?", "unanswerable"), ("R?", "unanswerable"), ("S?", "")))
    assert annotated.error == Failure("filter", "no_pair_kept", "no QA pair kept (unanswerable: 2, empty: 1)")


def test_truncated_json_is_rejected_with_the_finish_reason():
    annotated = parse('{"pairs":[{"question":"What is the total?","answer":"12', finish_reason="length")
    assert (annotated.error.stage, annotated.error.kind) == ("parse", "not_json")
    assert annotated.error.reason.startswith("completion is not the requested JSON (json_invalid")
    assert "finish_reason=length, 9 tokens" in annotated.error.reason


def test_parse_completion_rejects_other_shapes():
    with pytest.raises(ValueError, match="missing at pairs"):
        parse_completion('{"qa": []}')
    assert parse_completion('{"pairs": [{"question": " Q? ", "answer": " A "}]}')[0].question == "Q?"


def _captured():
    return [json.loads(line) for line in CAPTURED.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("row", _captured(), ids=lambda r: r["source"])
def test_real_completions_get_the_expected_verdict(row):
    """Completions written by the embedded engine (tests/fixtures/capture_completions.py); `expected` was
    checked by reading each completion against the filter rules."""
    annotated = parse(row["completion"], row["finish_reason"], row["prompt_id"], row["document"])
    assert (annotated.error and str(annotated.error)) == row["expected"].get("error")
    assert [p.question for p in annotated.qa] == row["expected"].get("kept", [])
    assert sorted(d.reason for d in annotated.dropped) == sorted(row["expected"].get("dropped", []))
