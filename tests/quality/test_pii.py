"""Personal data in QA pairs: real formats (IBANs, phone numbers of several countries, e-mail addresses, VAT
and ID numbers), and the parse stage's policies on the sample corpus's form and invoice. Real phonenumbers,
python-stdnum and PyMuPDF; no mocks."""

import json

import pytest

from docqa.config import (
    FilterConfig, InputConfig, LimitsConfig, PiiConfig, QAConfig, RenderConfig, TextConfig, load_config,
)
from docqa.generate.prompts import load_template
from docqa.ingest.load import LoadDocuments
from docqa.output.card import personal_data_removed
from docqa.output.stats import Stats
from docqa.quality.annotate import ParseQA
from docqa.quality.pii import PersonalDataFinder
from docqa.records import GeneratedWindow, SourceDocument, extend
from tests.conftest import ROOT

FINDER = PersonalDataFinder(regions=tuple(PiiConfig().phone_regions))
TEMPLATE = "docmatix-qa-completion-v1"


def kinds(question, answer):
    found = FINDER.find(question, answer)
    return sorted({f.kind for part in found.values() for f in part})


@pytest.mark.parametrize(
    "question, answer, expected",
    [
        # IBANs: only those whose check digits are right.
        ("What is the IBAN?", "DE89 3704 0044 0532 0130 00", ["iban"]),
        ("What is the IBAN?", "GB82WEST12345698765432", ["iban"]),
        ("What is the IBAN?", "NL67 DEUT 0265 1909 75", ["iban"]),  # the Lenze invoice in shared/corpus
        ("What is the IBAN?", "DE89 3704 0044 0532 0130 01", []),  # one digit off
        ("What is the IBAN?", "EM12 BRWT 0000 4471 9920 03", []),  # the sample invoice's: no such country
        # Phone numbers, as each country writes them.
        ("What is the phone number?", "+31 73-6456500", ["phone"]),
        ("How can orders be placed?", "by phone (0431 55 20 19)", ["phone"]),  # German
        ("What is the mobile number?", "06 12 34 56 78", ["phone"]),  # French
        ("Which number should be called?", "020 7946 0958", ["phone"]),  # British
        ("What is the contact number?", "+48 22 123 45 67", ["phone"]),  # Polish, international
        ("What is the office number?", "(816) 329-4148", ["phone"]),  # American, from the Federal Register
        # Numbers that are not phones: a date, an arXiv id, an amount, an invoice number.
        ("When was the sheet revised?", "02-15-2015", []),
        ("Which paper is cited?", "arXiv 1508.06576", []),
        ("How many passengers were carried?", "12 345 678", []),
        ("What is the invoice number?", "5319419588", []),
        # E-mail addresses.
        ("Where should applications be sent?", "jonas.lindqvist@example.org", ["email"]),
        ("What is the sales address?", "Write to sales.nl@lenze.com for orders", ["email"]),
        ("Who is mentioned?", "@lenze on social media", []),
        # VAT and ID numbers: checksums, and national numbers only where the pair names an identifier.
        ("What is the VAT number of Lenze B.V.?", "NL004271920B01", ["id_number"]),
        ("Jaki jest NIP sprzedawcy?", "5319419588", ["id_number"]),  # Polish tax number, valid checksum
        ("Jaki jest NIP sprzedawcy?", "5319419589", []),  # checksum wrong
        ("What is the PESEL of the employee?", "44051401359", ["id_number"]),
        ("¿Cuál es el DNI del solicitante?", "12345678Z", ["id_number"]),
        # Person names, where the question asks for a person.
        ("Who is the applicant?", "Jonas Lindqvist", ["person_name"]),
        ("Who chaired the meeting?", "J. Alvarez", ["person_name"]),
        ("Qui est le secrétaire de séance ?", "Ariane Bélanger", ["person_name"]),
        ("What is the full name of the voter?", "ALBRIEU, Oscar Edmundo", ["person_name"]),
        ("What is the name of the vessel?", "Sea Lark", []),  # a bare "name" is not a person's
        ("Who issued the invoice?", "Brightwater Office Supplies Ltd", []),
        ("Who signed?", "the harbour master", []),
    ],
)
def test_personal_data_is_found_by_kind(question, answer, expected):
    assert kinds(question, answer) == expected


def windows_of(sample_corpus, *names):
    load = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(ocr=False), LimitsConfig())
    loaded = load([SourceDocument(str(p)) for p in sample_corpus if p.name in names])
    return {w.source_path.rsplit("/", 1)[-1]: w for w in loaded}


FORM_PAIRS = [
    ("What is the applicant's email address?", "jonas.lindqvist@example.org"),
    ("What is the applicant's full name?", "Jonas Lindqvist"),
    ("What is the name of the vessel?", "Sea Lark"),
    ("What is the seasonal fee per metre of vessel length?", "EUR 64.00"),
]


def parse(window, pairs, policy, generators=("llm",)):
    """The window parsed with the model's `pairs`; by default the LLM's pairs alone, not the form's own."""
    completion = json.dumps({"pairs": [{"question": q, "answer": a} for q, a in pairs]})
    generated = extend(GeneratedWindow, window, prompt_id=TEMPLATE, completion=completion, finish_reason="stop")
    templates = [load_template(ROOT / "prompts", TEMPLATE)]
    qa = QAConfig(generators=list(generators))
    stage = ParseQA(FilterConfig(), templates, pii=PiiConfig(policy=policy), qa=qa)
    (annotated,) = stage([generated])
    return annotated


def test_pairs_with_personal_data_about_the_sample_form_are_dropped_masked(sample_corpus):
    form = windows_of(sample_corpus, "form.pdf")["form.pdf"]
    annotated = parse(form, FORM_PAIRS, "drop_pair")
    assert [p.answer for p in annotated.qa] == ["Sea Lark", "EUR 64.00"]
    # dropped/ is published: it gets the pairs with what was found replaced by its kind
    assert [(d.reason, d.about, d.question, d.answer) for d in annotated.dropped] == [
        ("personal_data", "email", "What is the applicant's email address?", "[email]"),
        ("personal_data", "person_name", "What is the applicant's full name?", "[person_name]"),
    ]


def test_the_form_fields_holding_personal_data_are_dropped_like_the_models_pairs(sample_corpus):
    form = windows_of(sample_corpus, "form.pdf")["form.pdf"]
    annotated = parse(form, [], "drop_pair", generators=("form",))
    assert annotated.qa and all(p.origin == "form" for p in annotated.qa)
    personal = [d for d in annotated.dropped if d.reason == "personal_data"]
    assert personal and all(d.origin == "form" for d in personal)
    assert {"email", "person_name"} <= {kind for d in personal for kind in d.about.split(",")}
    held = {d.answer for d in personal}
    assert not any(p.answer in held for p in annotated.qa)


def test_drop_window_rejects_the_form_and_keep_keeps_everything(sample_corpus):
    form = windows_of(sample_corpus, "form.pdf")["form.pdf"]
    rejected = parse(form, FORM_PAIRS, "drop_window")
    assert (rejected.error.kind, rejected.error.about) == ("personal_data", "email,person_name")
    assert "in 2 QA pair(s)" in rejected.error.reason and rejected.qa == []
    assert sorted(d.reason for d in rejected.dropped) == ["personal_data"] * 2 + ["personal_data_in_window"] * 2
    kept = parse(form, FORM_PAIRS, "keep")
    assert [p.answer for p in kept.qa] == [a for _, a in FORM_PAIRS]

    stats = Stats()
    stats.add(rejected)
    removed = stats.quality()["removed_for_personal_data"]
    assert removed == {
        "email": {"pairs_removed": 1, "windows_removed": 1},
        "person_name": {"pairs_removed": 1, "windows_removed": 1},
    }
    config = load_config(None, ["pii.policy=drop_window"])
    assert "email: 1 QA pairs, 1 windows; person name: 1 QA pairs, 1 windows" in personal_data_removed(config, removed)


def test_the_sample_invoice_gives_its_email_but_not_its_made_up_iban(sample_corpus):
    invoice = windows_of(sample_corpus, "invoice.pdf")["invoice.pdf"]
    pairs = [
        ("Which e-mail address does the seller give?", "accounts@brightwater-supplies.example"),
        ("To which IBAN should the total be transferred?", "EM12 BRWT 0000 4471 9920 03"),  # no country EM
        ("What is the invoice number?", "INV-2024-0187"),
    ]
    annotated = parse(invoice, pairs, "drop_pair")
    assert [(d.reason, d.about) for d in annotated.dropped] == [("personal_data", "email")]
    assert [p.question for p in annotated.qa] == [q for q, _ in pairs[1:]]
