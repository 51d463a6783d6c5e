"""Prompt building with the embedded model's real tokenizer and the shipped templates."""

import hashlib
import json

import pytest

from docqa.generate.answer import parse_completion, response_schema
from docqa.generate.prompt_stage import BuildPrompts
from docqa.generate.prompts import load_template
from docqa.records import PageWindow
from docqa.runtime.faults import SystemicFault
from tests.conftest import ROOT

PROMPTS = ROOT / "prompts"


def window(*texts):
    return PageWindow("doc.pdf", "id", len(texts), 0, list(range(len(texts))), [b""] * len(texts), list(texts), ["layer"] * len(texts))


@pytest.fixture
def build(embedded_model):
    def make(template="docmatix-qa-completion-v1", max_model_len=1024, max_tokens=256):
        stage = BuildPrompts([load_template(PROMPTS, template)], 0, embedded_model, max_model_len, max_tokens, 4)
        stage.setup()
        return stage

    return make


def test_short_document_is_sent_whole_with_pages_marked(build):
    stage = build()
    (prompted,) = stage([window("Invoice INV-7 total 12.50 EUR", "Paid on 3 May 2024")])
    text = stage.tokenizer.decode(prompted.prompt_token_ids)
    assert "Invoice INV-7 total 12.50 EUR\n\n=== NEW PAGE ===\n\nPaid on 3 May 2024" in text
    assert prompted.prompt_token_ids[0] == stage.tokenizer.bos_token_id  # Gemma degenerates without <bos>
    assert prompted.prompt_token_ids.count(stage.tokenizer.bos_token_id) == 1
    assert prompted.document_tokens_dropped == 0
    assert prompted.prompt_id == "docmatix-qa-completion-v1"
    assert prompted.prompt_sha256 == hashlib.sha256((PROMPTS / "docmatix-qa-completion-v1.yaml").read_bytes()).hexdigest()


def test_long_document_is_cut_to_fit_the_context_and_the_cut_recorded(build):
    stage = build(max_model_len=1024, max_tokens=256)
    page = " ".join(f"Line {i}: the ferry left pier {i % 7} at {i % 24}:15." for i in range(400))
    (prompted,) = stage([window(page, page)])
    assert len(prompted.prompt_token_ids) <= 1024 - 256
    assert len(prompted.prompt_token_ids) >= 1024 - 256 - 8  # the budget is used, not wasted
    assert prompted.document_tokens_dropped > 0
    assert prompted.document_tokens - prompted.document_tokens_dropped > 100
    text = stage.tokenizer.decode(prompted.prompt_token_ids)
    assert text.rstrip().endswith("Questions and answers:")  # the cut is in the document, not the instructions


def test_context_too_small_for_the_template_is_a_config_error(build):
    with pytest.raises(SystemicFault, match="max_model_len=600"):
        build(max_model_len=600, max_tokens=256)


def test_chat_template_uses_the_models_chat_format(embedded_model, tmp_path):
    import transformers

    # The embedded base model ships no chat template: give a copy of its tokenizer a minimal one.
    tokenizer = transformers.AutoTokenizer.from_pretrained(embedded_model)
    tokenizer.chat_template = (
        "{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    tokenizer.save_pretrained(tmp_path)
    stage = BuildPrompts([load_template(PROMPTS, "docmatix-qa-chat-v1")], 0, str(tmp_path), 2048, 256, 3)
    (prompted,) = stage([window("Board meeting on 4 June.")])
    text = stage.tokenizer.decode(prompted.prompt_token_ids)
    assert text.startswith("<bos><system>You read text extracted")
    assert "Write up to 3 question and answer pairs" in text and "Board meeting on 4 June." in text
    assert text.endswith("<assistant>")
    assert prompted.prompt_token_ids.count(stage.tokenizer.bos_token_id) == 1


def test_chat_prompt_for_a_model_without_chat_template_is_a_clear_error(build):
    with pytest.raises(SystemicFault, match="has no chat template .* use completion prompts"):
        build(template="docmatix-qa-chat-v1")


def test_unknown_template_lists_the_available_ones():
    with pytest.raises(FileNotFoundError, match="docmatix-qa-chat-v1"):
        load_template(PROMPTS, "docmatix-qa-v9")


def test_response_schema_bounds_the_number_of_pairs():
    schema = response_schema(3)
    assert schema["properties"]["pairs"]["maxItems"] == 3
    assert schema["properties"]["pairs"]["items"]["required"] == ["question", "answer"]
    # Guided decoding follows these bounds; they are declared on the parsing model, which leaves pairs out
    # of bounds (from a server that ignores the schema) to the filters.
    assert schema["properties"]["pairs"]["minItems"] == 1
    fields = schema["properties"]["pairs"]["items"]["properties"]
    assert (fields["question"]["maxLength"], fields["answer"]["maxLength"]) == (300, 200)
    assert "$ref" not in json.dumps(schema)
    assert parse_completion(json.dumps({"pairs": [{"question": "Q?", "answer": "a" * 201}]}))[0].answer == "a" * 201


def test_each_document_gets_a_template_drawn_from_its_hash(embedded_model):
    from docqa.generate.prompts import PROMPT_SETS, choose_template, load_templates

    templates = load_templates(PROMPTS, ["docmatix-completion"])
    stage = BuildPrompts(templates, 7, embedded_model, 1024, 256, 4)
    windows = [PageWindow("d.pdf", f"{i:064x}", 1, 0, [0], [b""], [f"Page {i} of the ledger."], ["layer"]) for i in range(40)]
    prompted = stage(windows)
    assert {p.prompt_id for p in prompted} == set(PROMPT_SETS["docmatix-completion"])
    for window, p in zip(windows, prompted, strict=True):
        chosen = choose_template(templates, window.doc_id, 7)
        assert (p.prompt_id, p.prompt_sha256) == (chosen.prompt_id, chosen.sha256)
