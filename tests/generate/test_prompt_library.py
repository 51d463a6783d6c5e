"""The prompt library: every file in `prompts/` is a sound template, released files stay as released, and
prompt sets give each document one of their templates."""

import hashlib
import json
import re
from collections import Counter

import pytest

from docqa.generate.prompts import (
    PROMPT_SETS,
    PromptError,
    PromptTemplate,
    choose_template,
    load_template,
    load_templates,
)
from docqa.quality.folding import folded_text
from tests.conftest import ROOT

PROMPTS = ROOT / "prompts"
PROMPT_IDS = sorted(p.stem for p in PROMPTS.glob("*.yaml"))

# Rows carry these hashes: a released prompt that changed would make old and new rows look alike.
RELEASED = {
    "docmatix-qa-chat-v1": "4b70d3d03fe5e88a139ec9c23633dc9304775c1c2c04e354886335495ce17759",
    "docmatix-qa-completion-v1": "3ca92fe4d0fe85267586dfa07603d19e7aa3f09803948dc3ac9a0ad76a121d83",
    "docmatix-comprehensive-chat-v1": "f78e4990d241e8757a11b267af6725d0afa532b75fe1e53760966114e9ae8e6b",
    "docmatix-comprehensive-completion-v1": "f889f0d406f20666279199cc16b4b0666a4db52761fc63a4591718901de8dbb5",
    "docmatix-sections-chat-v1": "0fdb5e5c2b30cd9c4fd667a3aac2d9d160c3b6fe41d1681cbfa7557fdf38fef0",
    "docmatix-sections-completion-v1": "bd3f81f316ff9b1e4ce44bfe1b67d1d2c76c77bf3869e030fa129703bce39d72",
    "docmatix-reasoning-chat-v1": "935acf187a5ca63587cdd672fd0141bb9d07dabe499a20fbb86a2cba6916387f",
    "docmatix-reasoning-completion-v1": "b0662fcdc36077e1c7c5b63992c63017c4ead97d390cb0db2eb1cca08af1f507",
    "docmatix-summary-chat-v1": "4588ae49adce2d4c05133997a768a6c474a4b731c4efb19cafc54b549088bdb7",
    "docmatix-summary-completion-v1": "8d8d812b05eb3f9a7ac104a1ba0975b7d9b9092f7d42133b405fea524e816d78",
    "docmatix-phrasing-chat-v1": "272110c74f21d304730273ab839007060fba22b7933d557715d0c4b51b886c19",
    "docmatix-phrasing-completion-v1": "5ea006647500a10a695aca7db257fe1d44ad8c84d078ba6f2093836b58ba2587",
    "docmatix-comprehensive-chat-v2": "d85f49e7f04de76c228d478d5715a6133cea11cd2a061b758d9248f2debce9a9",
    "docmatix-sections-chat-v2": "5856ab5a6522e7047e32cf8c49c88de3e250155c80ee493a4d5f25c5669c5710",
    "docmatix-reasoning-chat-v2": "ab4238809c66661d22697f8dfda9061f58588b314665a27127eafaccbacfc6c5",
    "docmatix-summary-chat-v2": "061333cbf4a6b4de83d7e1e0cecdf9d2ac694fcef5b0fc447b8eec139630f062",
    "docmatix-phrasing-chat-v2": "f76038b7a6e165e580fb90e4c393827648c348d3045c24249adf0e247506a553",
}

# A completion prompt's worked example: a document, then its answer as one JSON line.
_COMPLETION_EXAMPLE = re.compile(r"Document:\n(.*?)\n\nQuestions and answers:\n(\{[^\n]*\})\n", re.S)
# A chat prompt's example pair: `- "question" / "answer"` on a line of its own.
_CHAT_EXAMPLE = re.compile(r'^\s*- "(.+)" / "(.+)"$', re.M)

DOC_IDS = [hashlib.sha256(f"document {i}".encode()).hexdigest()[:16] for i in range(200)]


def body(template: PromptTemplate) -> str:
    return template.template if template.form == "completion" else "\n".join(m.content for m in template.messages)


def worked_examples(template: PromptTemplate) -> list[tuple[str, list[dict[str, str]]]]:
    examples = _COMPLETION_EXAMPLE.findall(template.template)
    return [(document, json.loads(answer)["pairs"]) for document, answer in examples]


def example_pairs(template: PromptTemplate) -> list[tuple[str, str]]:
    if template.form == "chat":
        return _CHAT_EXAMPLE.findall(body(template))
    return [(p["question"], p["answer"]) for _, pairs in worked_examples(template) for p in pairs]


def collapsed(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("prompt_id", sorted(RELEASED))
def test_released_prompts_are_unchanged(prompt_id):
    path = PROMPTS / f"{prompt_id}.yaml"
    assert path.is_file(), f"released prompt {path} is gone: rows in existing datasets name it"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == RELEASED[prompt_id], (
        f"{path} changed: released prompts are immutable, add a new version instead "
        f"(a new file with the next version number)"
    )


@pytest.mark.parametrize("prompt_id", PROMPT_IDS)
def test_prompt_file_is_a_valid_template_named_after_its_id_and_version(prompt_id):
    template = load_template(PROMPTS, prompt_id)  # validates the fields and the file name
    assert template.prompt_id == prompt_id
    assert body(template).count("{document}") == 1
    assert "{max_pairs}" in body(template)
    assert len(example_pairs(template)) >= 2, "the examples show the model what to write: parse found too few"


@pytest.mark.parametrize("prompt_id", [p for p in PROMPT_IDS if "completion" in p])
def test_completion_examples_answer_from_their_own_documents(prompt_id):
    template = load_template(PROMPTS, prompt_id)
    examples = worked_examples(template)
    assert len(examples) >= 2
    assert template.template.endswith("Document:\n{document}\n\nQuestions and answers:\n")
    for document, pairs in examples:
        for pair in pairs:
            assert set(pair) == {"question", "answer"}
            assert collapsed(pair["answer"]) in collapsed(document), f"{pair} is not copied from:\n{document}"


def test_example_questions_and_answers_are_not_shared_between_prompts():
    """A model copies examples verbatim; shared examples would teach one answer to several prompts and make
    copies harder to tell apart from the document's own text. Versions of one prompt may share them."""
    places: dict[str, set[str]] = {}
    for prompt_id in PROMPT_IDS:
        template = load_template(PROMPTS, prompt_id)
        for question, answer in example_pairs(template):
            for text in (folded_text(question), folded_text(answer)):
                places.setdefault(text, set()).add(template.id)
    assert [text for text, prompts in places.items() if len(prompts) > 1] == []


@pytest.fixture(scope="module")
def chat_tokenizer(embedded_model):
    import transformers

    # The embedded base model ships no chat template: give a copy of its tokenizer a minimal one.
    tokenizer = transformers.AutoTokenizer.from_pretrained(embedded_model)
    tokenizer.chat_template = (
        "{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    return tokenizer


@pytest.mark.parametrize("prompt_id", PROMPT_IDS)
def test_prompt_renders_with_the_document_once_and_no_placeholders_left(prompt_id, chat_tokenizer):
    template = load_template(PROMPTS, prompt_id)
    text = template.render("Ferry ledger of the isle of Vell, page 7", 3, chat_tokenizer)
    assert text.count("Ferry ledger of the isle of Vell, page 7") == 1
    assert "{document}" not in text and "{max_pairs}" not in text and "{language}" not in text
    assert "up to 3 question" in text
    if template.form == "chat":
        assert text.startswith("<bos><system>") and text.endswith("<assistant>")


@pytest.mark.parametrize("prompt_id", PROMPT_SETS["docmatix-chat"])
def test_the_chat_set_asks_for_pairs_in_the_documents_language(prompt_id, chat_tokenizer):
    template = load_template(PROMPTS, prompt_id)
    assert "Write the questions and answers in French." in template.render("Procès-verbal", 3, chat_tokenizer, language="French")
    assert "in the document's language." in template.render("Procès-verbal", 3, chat_tokenizer)  # not identified


def test_a_document_that_spells_a_placeholder_is_sent_as_written(chat_tokenizer):
    template = load_template(PROMPTS, PROMPT_SETS["docmatix-chat"][0])
    text = template.render("Fill in {language} and {max_pairs}", 3, chat_tokenizer, language="German")
    assert "Fill in {language} and {max_pairs}" in text


@pytest.mark.parametrize("prompt_id", [p for p in PROMPT_IDS if "completion" in p])
def test_completion_prompt_leaves_room_for_pages_in_the_default_config(prompt_id, chat_tokenizer, default_config):
    """The default model reads 1024 tokens: a long template would leave it fragments of pages."""
    template = load_template(PROMPTS, prompt_id)
    overhead = len(chat_tokenizer(template.render("", default_config.sampling.max_pairs, chat_tokenizer)).input_ids)
    room = default_config.model.max_model_len - default_config.sampling.max_tokens - overhead
    assert room >= 300, f"{prompt_id} takes {overhead} tokens, leaving {room} for the document"


@pytest.mark.parametrize("set_name", sorted(PROMPT_SETS))
def test_prompt_set_expands_to_its_templates_all_of_one_form(set_name):
    templates = load_templates(PROMPTS, [set_name])
    assert [t.prompt_id for t in templates] == PROMPT_SETS[set_name]
    assert len({t.form for t in templates}) == 1  # one model reads them all: base or instruct


def test_load_templates_mixes_ids_and_sets_and_loads_each_once():
    templates = load_templates(PROMPTS, ["docmatix-qa-chat-v1", "docmatix-chat", "docmatix-summary-chat-v2"])
    assert [t.prompt_id for t in templates] == ["docmatix-qa-chat-v1", *PROMPT_SETS["docmatix-chat"]]


def test_load_templates_rejects_an_unknown_name_listing_what_exists():
    with pytest.raises(PromptError, match="unknown prompt or prompt set docmatix-chats") as error:
        load_templates(PROMPTS, ["docmatix-chats"])
    assert "docmatix-qa-completion-v1" in str(error.value) and "docmatix-chat," in str(error.value)
    with pytest.raises(PromptError, match="no prompt named"):
        load_templates(PROMPTS, [])


@pytest.fixture(scope="module")
def completion_set():
    return load_templates(PROMPTS, ["docmatix-completion"])


def test_choose_template_depends_only_on_document_and_seed(completion_set):
    chosen = [choose_template(completion_set, doc_id, seed=7).prompt_id for doc_id in DOC_IDS]
    in_reverse = [choose_template(completion_set[::-1], doc_id, seed=7).prompt_id for doc_id in DOC_IDS[::-1]]
    assert in_reverse[::-1] == chosen


def test_choose_template_spreads_documents_evenly_over_all_roles(completion_set):
    counts = Counter(choose_template(completion_set, doc_id, seed=0).prompt_id for doc_id in DOC_IDS)
    assert set(counts) == set(PROMPT_SETS["docmatix-completion"])
    assert all(0.1 * len(DOC_IDS) <= n <= 0.3 * len(DOC_IDS) for n in counts.values()), counts


def test_choose_template_changes_with_the_seed(completion_set):
    changed = sum(
        choose_template(completion_set, doc_id, seed=0) is not choose_template(completion_set, doc_id, seed=1)
        for doc_id in DOC_IDS
    )
    assert changed > len(DOC_IDS) / 2  # four in five, were the draws independent


def test_choose_template_from_no_templates_is_an_error():
    with pytest.raises(ValueError, match="no prompt templates"):
        choose_template([], "doc", seed=0)
