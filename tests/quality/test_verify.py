"""The checks every QA pair must pass: the text checks on a labelled table of pairs, the round trip's
agreement rule, the judge's parsing and weighting, and both model checks end to end through the
generate and parse stages against a scripted OpenAI-compatible server (no 7-8B judge can run here)."""

import json

import pytest

from docqa.config import FilterConfig, load_config
from docqa.generate.answer import response_schema
from docqa.generate.endpoint import EndpointGenerateQA
from docqa.generate.prompts import load_template, load_templates
from docqa.output.schema import RunInfo, dataset_row
from docqa.quality.annotate import ParseQA
from docqa.quality.filters import generic_question, not_a_question, pair_filters, window_text
from docqa.quality.verify import PairChecker, answers_agree, check_filters, judge_scores, lowest_rubric
from docqa.records import PromptedWindow, QAPair
from tests.conftest import ROOT
from tests.fakes.openai_server import FakeEndpoint

LABELS = [json.loads(line) for line in (ROOT / "tests" / "fixtures" / "check_labels.jsonl").read_text().splitlines()]
PAGES = json.loads((ROOT / "tests" / "fixtures" / "check_pages.json").read_text())
CROSSPAGE = load_template(ROOT / "prompts", "docmatix-crosspage-completion-v1")


def _verdict(check, row) -> str | None:
    return check(QAPair(row["question"], row["answer"]), window_text(PAGES[row["source"]]))


@pytest.mark.parametrize(
    ("check", "kind", "roles"),
    [
        (not_a_question, "not_a_question", ("single", "crosspage")),
        (generic_question, "generic", ("single", "crosspage")),
        (pair_filters(load_config().filters, CROSSPAGE)[-1], "single_page", ("crosspage",)),
    ],
)
def test_a_text_check_drops_the_labelled_pairs_of_its_kind_and_no_right_pair(check, kind, roles):
    """On the labelled set (tests/fixtures/check_labels.jsonl: the embedded model's pairs and hand-written
    ones, each read against its pages), each check names every pair of the error it is for, and never a
    pair labelled right."""
    rows = [row for row in LABELS if row["role"] in roles]
    assert [row["question"] for row in rows if row["error"] == kind and not _verdict(check, row)] == []
    assert [row["question"] for row in rows if row["verdict"] == "right" and _verdict(check, row)] == []


@pytest.mark.parametrize(
    ("question", "answer", "reason"),
    [
        ("What is the document about?", "A company", "generic_question"),
        ("What is this?", "An invoice", "generic_question"),
        ("What is this?", "Invoice INV-2024-0187 of Brightwater Office Supplies", None),
        ("What is the document about?", "Brightwater Office Supplies invoices Northwind Ferries", None),
        ("Wie hoch ist der Gesamtbetrag?", "EUR 2,774.04", None),
        ("List the items ordered", "office chairs and desks", None),
        ("Invoice number", "INV-2024-0187", "not_a_question"),
    ],
)
def test_questions_any_document_answers_and_statements_are_dropped(question, answer, reason):
    text = "INVOICE INV-2024-0187. Brightwater Office Supplies bills Northwind Ferries EUR 2,774.04."
    pair = QAPair(question, answer)
    assert (not_a_question(pair, text) or generic_question(pair, text)) == reason


@pytest.mark.parametrize(
    ("answer", "other", "agree"),
    [
        ("EUR 58", "EUR 58 per recorder", True),
        ("EUR 58", "58", True),
        ("the Brenner & Holt shipyard", "Brenner & Holt", True),
        ("EUR 2,774.04", "EUR 2774.04", True),
        ("18 months", "8 months", False),  # numbers are compared whole
        ("EUR 17.9 million", "EUR 21.3 million", False),
        ("Northwind Ferries AB", "Saltö - Kvarnholm", False),
        ("96.5 %", "97.2 % and 96.5 %", False),  # another number besides: not the same answer
        ("Sea Lark", "", False),  # a reply that was not the requested JSON
        ("Sea Lark", "unanswerable", False),
    ],
)
def test_round_trip_answers_agree_on_the_same_numbers_and_most_words(answer, other, agree):
    assert answers_agree(answer, other, 0.5) is agree


def test_judge_reply_is_weighted_and_names_its_lowest_rubric():
    scores = judge_scores('{"correctness":1,"training_signal":5,"question_quality":5,"needs_page":5,"answer_format":5}')
    assert scores.score == pytest.approx(0.65) and lowest_rubric(scores) == "correctness"
    tie = judge_scores('{"correctness":5,"training_signal":2,"question_quality":2,"needs_page":5,"answer_format":5}')
    assert lowest_rubric(tie) == "training_signal"  # the heavier of two equal lows
    assert judge_scores('{"correctness": 6}') is None and judge_scores('{"correctness": 5, "tra') is None


INVOICE = PAGES["invoice.pdf p. 1-1"]
PAIRS = [
    ("What is the invoice number?", "INV-2024-0187"),  # the round trip agrees, the judge likes it
    ("What is the total due?", "EUR 2,311.70"),  # the subtotal: the round trip answers 2,774.04
    ("How many office chairs were ordered?", "4"),  # the round trip agrees, the judge finds it useless
    ("What is the VAT amount?", "EUR 462.34"),  # the judge's reply is cut off
    ("Invoice date", "12 February 2024"),  # a text filter drops it: never asked about
]
ROUNDTRIP = {"What is the invoice number?": "INV-2024-0187", "What is the total due?": "EUR 2,774.04",
             "How many office chairs were ordered?": "4", "What is the VAT amount?": "462.34"}
GOOD = '{"correctness":5,"training_signal":4,"question_quality":4,"needs_page":5,"answer_format":5}'
JUDGE = {"What is the invoice number?": GOOD, "What is the total due?": GOOD,
         "How many office chairs were ordered?": GOOD.replace('"training_signal":4', '"training_signal":1')
         .replace('"question_quality":4', '"question_quality":1').replace('"correctness":5', '"correctness":2'),
         "What is the VAT amount?": '{"correctness":5,"train'}


def scripted(tokenizer):
    """Replies by request: the pairs for the generating prompt, else the answer or scores for the question
    the check's prompt ends with."""

    def reply(body: dict) -> str:
        prompt = tokenizer.decode(body["prompt"])
        if "qa_pairs" == body["response_format"]["json_schema"]["name"]:
            return json.dumps({"pairs": [{"question": q, "answer": a} for q, a in PAIRS]})
        question = prompt.rpartition("Question: ")[2].partition("\n")[0]
        if "answer" in body["response_format"]["json_schema"]["schema"]["properties"]:
            return json.dumps({"answer": ROUNDTRIP[question]})
        return JUDGE[question]

    return reply


def test_round_trip_and_judge_through_the_generating_endpoint(embedded_model):
    """The endpoint that generated answers both checks; the parse stage drops on them with their reasons and
    the dataset row keeps what the model said. The server is scripted: a judge's quality is not measured."""
    import transformers

    config = load_config(ROOT / "configs" / "default.yaml", [
        f"prompt.directory={ROOT / 'prompts'}", "filters.roundtrip=true", "filters.judge=true",
        "model.endpoint_retries=0", f"model.cache_dir={ROOT / '.cache' / 'models'}",
    ])
    templates = load_templates(config.prompt.directory, ["docmatix-qa-completion-v1"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(embedded_model)
    checker = PairChecker(config.filters, templates, config.prompt.directory, config.model.max_model_len)
    with FakeEndpoint(script=scripted(tokenizer)) as server:
        config.model.endpoint = server.url
        generate = EndpointGenerateQA("m", config.model, config.sampling, response_schema(5), checker, embedded_model)
        window = PromptedWindow(
            "invoice.pdf", "id", 1, 0, [0], texts=INVOICE, prompt_id="docmatix-qa-completion-v1",
            prompt_token_ids=[2, 3],
        )
        (generated,) = generate([window])
        (annotated,) = ParseQA(config.filters, templates)([generated])
    assert [p.question for p in annotated.qa] == ["What is the invoice number?"]
    assert {d.question: d.reason for d in annotated.dropped} == {
        "What is the total due?": "roundtrip_mismatch",
        "How many office chairs were ordered?": "judge_training_signal",
        "What is the VAT amount?": "judge_no_verdict",
        "Invoice date": "not_a_question",
    }
    assert server.requests.count("POST /v1/completions") == 1 + 2 * 4  # the generation, then two checks a pair
    (checks,) = dataset_row(annotated, RunInfo(0, 1, 9, 0), "invoice.pdf")["checks"]
    assert checks["roundtrip_answer"] == "INV-2024-0187"
    assert checks["judge"]["correctness"] == 5 and checks["judge"]["score"] == pytest.approx(0.8875, abs=0.001)


def test_a_check_prompt_fills_in_the_question_once_and_leaves_the_page_as_printed():
    template = load_template(ROOT / "prompts" / "checks", "roundtrip-answer-completion-v1")
    text = template.render("Field printed on the form: {question}", 0, None, question="Who signed?")
    assert "Field printed on the form: {question}" in text
    assert text.rstrip().endswith("Question: Who signed?\nAnswer:")


def test_structure_pairs_are_neither_asked_back_nor_judged():
    config = FilterConfig(roundtrip=True, judge=True)
    filters = check_filters(config)
    read = QAPair("What is the Total due?", "EUR 2,774.04", 1.0, origin="key_value")  # never asked: no checks
    assert [f(read, "Total due: EUR 2,774.04") for f in filters] == [None, None]
    written = QAPair("What is the Total due?", "EUR 2,774.04")
    assert filters[1](written, "") == "judge_no_verdict"
