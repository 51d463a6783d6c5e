"""Prompt templates: versioned files in `prompts/`, and the JSON answer they ask for.

A template file `prompts/<id>-v<version>.yaml` is either a `completion` prompt (for base models: plain
text ending where the model continues) or a `chat` prompt (for instruct models: messages rendered with
the model's own chat template). `{document}` and `{max_pairs}` are filled in, `{language}` with the
English name of the window's language ("French", or "the document's language" where it could not be
identified), and for the checks that ask the model about one pair (`docqa.quality.verify`) `{question}`
and `{answer}`; nothing else is interpreted, in one pass (a page that prints "{question}" stays as
printed), so JSON examples need no escaping. The sha256 of the file is stored with every row. The chat
set asks for pairs in the document's language from its v2 templates on; the completion set does not (a
base model continues its worked examples, in English, whatever it is told), and the filters drop pairs
in another language than the document's (`docqa.quality.filters`).

A prompt *set* names several templates of one form; each document gets one of them, drawn from its id
and a seed. Docmatix worked this way: five role descriptions, one picked per document, so the questions
of a dataset vary in kind (whole-document coverage, section coverage, reasoning, summaries, phrasing).
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from docqa.errors import UserError

_PLACEHOLDER = re.compile(r"\{(document|max_pairs|language|question|answer)\}")


UNKNOWN_LANGUAGE = "the document's language"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


class PromptTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Name of the prompt, without version.")
    version: int = Field(ge=1, description="Bumped for every change once a prompt is released.")
    form: Literal["completion", "chat"] = Field(description="completion: base models; chat: instruct models.")
    page_separator: str = Field(description="Placed between the texts of consecutive pages.")
    template: str | None = Field(None, description="The prompt text (completion form).")
    messages: list[ChatMessage] | None = Field(None, description="The conversation (chat form).")
    evidence_pages: int = Field(
        1,
        ge=1,
        description="Pages of the window a question of this role must draw on; 2 or more: pairs whose evidence "
        "is found on fewer pages are dropped (`single_page_evidence`, docqa.quality.filters).",
    )
    sha256: str = Field("", description="Hash of the template file; set when loaded.")

    @model_validator(mode="after")
    def _body_matches_form(self) -> PromptTemplate:
        if self.form == "completion" and not self.template:
            raise ValueError("a completion prompt needs `template`")
        if self.form == "chat" and not self.messages:
            raise ValueError("a chat prompt needs `messages`")
        return self

    @property
    def prompt_id(self) -> str:
        return f"{self.id}-v{self.version}"

    def instruction_text(self) -> str:
        """Everything the template says besides the document (its role text and worked examples)."""
        parts = [self.template] if self.form == "completion" else [m.content for m in self.messages]
        return "\n".join(parts).replace("{document}", "")

    def render(self, document: str, max_pairs: int, tokenizer: Any, **fields: str) -> str:
        """The prompt text; `fields` fill `{language}` (a language's name), `{question}` and `{answer}`."""
        values = {"document": document, "max_pairs": str(max_pairs), "language": UNKNOWN_LANGUAGE, **fields}

        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), text)

        if self.form == "completion":
            return fill(self.template)
        messages = [{"role": m.role, "content": fill(m.content)} for m in self.messages]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def load_template(directory: str | Path, prompt_id: str) -> PromptTemplate:
    path = Path(directory) / f"{prompt_id}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in Path(directory).glob("*.yaml"))
        raise FileNotFoundError(f"no prompt template {path}; available: {', '.join(available) or 'none'}")
    raw = path.read_bytes()
    template = PromptTemplate.model_validate({**yaml.safe_load(raw), "sha256": hashlib.sha256(raw).hexdigest()})
    if template.prompt_id != prompt_id:
        raise ValueError(f"{path} declares {template.prompt_id!r}; the file must be named after id and version")
    return template


# The Docmatix roles, one template per role; a set holds templates of one form, for one kind of model.
PROMPT_SETS: dict[str, list[str]] = {
    "docmatix-chat": [
        "docmatix-comprehensive-chat-v2",
        "docmatix-sections-chat-v2",
        "docmatix-reasoning-chat-v2",
        "docmatix-summary-chat-v2",
        "docmatix-phrasing-chat-v2",
    ],
    "docmatix-completion": [
        "docmatix-comprehensive-completion-v1",
        "docmatix-sections-completion-v1",
        "docmatix-reasoning-completion-v1",
        "docmatix-summary-completion-v1",
        "docmatix-phrasing-completion-v1",
    ],
    # Questions that need two or more pages of a window: pairs whose evidence is on one page are dropped.
    "crosspage-chat": ["docmatix-crosspage-chat-v1"],
    "crosspage-completion": ["docmatix-crosspage-completion-v1"],
}


class PromptError(UserError):
    """A prompt id or set that does not exist, or a template file that does not follow the format."""


def load_templates(directory: str | Path, names: list[str]) -> list[PromptTemplate]:
    """Templates for `names`, each a prompt id or the name of a set in `PROMPT_SETS`; each template once."""
    prompt_ids = list(dict.fromkeys(prompt_id for name in names for prompt_id in PROMPT_SETS.get(name, [name])))
    available = sorted(p.stem for p in Path(directory).glob("*.yaml"))
    unknown = [prompt_id for prompt_id in prompt_ids if prompt_id not in available]
    if unknown or not prompt_ids:
        problem = f"unknown prompt or prompt set {', '.join(unknown)} in {directory}" if unknown else "no prompt named"
        raise PromptError(f"{problem}; prompts: {', '.join(available) or 'none'}; prompt sets: {', '.join(PROMPT_SETS)}")
    return [load_template(directory, prompt_id) for prompt_id in prompt_ids]


def choose_template(templates: list[PromptTemplate], doc_id: str, seed: int) -> PromptTemplate:
    """The template for one document, drawn from its id and `seed` alone.

    The draw ignores the order of documents, which worker runs them and the order of `templates`, so a
    rerun or a resumed run gives every document the same template.
    """
    if not templates:
        raise ValueError("no prompt templates to choose from")
    return random.Random(f"{seed}:{doc_id}").choice(sorted(templates, key=lambda t: t.prompt_id))
