"""Build each window's prompt from a template, cut to fit the model's context, counted in its own tokens.

The budget for page text is the context length minus the generation budget minus the template's own
tokens. Text beyond it is cut from the end, and the number of tokens cut is recorded on the row. The
prompt is handed to the engine as token ids, so what was counted is exactly what is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from docqa.generate.prompts import UNKNOWN_LANGUAGE, PromptTemplate, choose_template
from docqa.quality.language import language_name
from docqa.records import PageWindow, PromptedWindow, extend
from docqa.runtime.faults import SystemicFault
from docqa.runtime.stage import Resources, Stage

_BLANK_RUNS = re.compile(r"\n\s*\n(\s*\n)+")


def document_text(texts: list[str], separator: str) -> str:
    return separator.join(_BLANK_RUNS.sub("\n\n", t).strip() for t in texts)


def encode_prompt(tokenizer: Any, template: PromptTemplate, document: str, max_pairs: int, **fields: str) -> list[int]:
    """The token ids of `template` filled in (`fields`: `{question}`, `{answer}`)."""
    text = template.render(document, max_pairs, tokenizer, **fields)
    # Chat templates write the special tokens themselves; completion prompts rely on the tokenizer's.
    return tokenizer(text, add_special_tokens=template.form == "completion").input_ids


def fit_prompt(
    tokenizer: Any, encode: Callable[[str], list[int]], document: str, budget: int
) -> tuple[list[int], list[int], int]:
    """The prompt's token ids, at most `budget` of them, with `document` cut from its end to fit: also the
    document's own token ids and how many of them were kept. `encode` renders a prompt around a text."""
    doc_ids = tokenizer(document, add_special_tokens=False).input_ids
    kept = len(doc_ids)
    while True:
        prompt_ids = encode(document)
        excess = len(prompt_ids) - budget
        if excess <= 0 or kept == 0:
            return prompt_ids, doc_ids, kept
        # Re-tokenising a cut text can merge tokens differently, so cut and measure again until it fits.
        kept = max(kept - excess, 0)
        document = tokenizer.decode(doc_ids[:kept])


class BuildPrompts(Stage):
    name = "prompt"
    input_type = PageWindow
    output_type = PromptedWindow

    def __init__(
        self,
        templates: list[PromptTemplate],
        seed: int,
        tokenizer_path: str,
        max_model_len: int,
        max_tokens: int,
        max_pairs: int,
        revision: str | None = None,
        batch_size: int = 16,
    ):
        # A large-vocabulary tokenizer (Gemma 3: 262k tokens) takes about 0.9 GB.
        self.resources = Resources(batch_size=batch_size, num_cpus=0.25, memory_gb=1.2, stateful=True)
        self.templates = templates
        self.revision = revision
        self.seed = seed
        self.tokenizer_path = tokenizer_path
        self.max_model_len = max_model_len
        self.max_tokens = max_tokens
        self.max_pairs = max_pairs

    def setup(self) -> None:
        import transformers

        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.tokenizer_path, revision=self.revision)
        for template in self.templates:
            if template.form == "chat" and not self.tokenizer.chat_template:
                raise SystemicFault(
                    f"prompt {template.prompt_id} is a chat prompt but {self.tokenizer_path} has no chat template "
                    "(a base model?): use completion prompts such as the set docmatix-completion"
                )
            overhead = len(encode_prompt(self.tokenizer, template, "", self.max_pairs))
            document_budget = self.max_model_len - self.max_tokens - overhead
            if document_budget < 64:
                raise SystemicFault(
                    f"model.max_model_len={self.max_model_len} leaves {document_budget} tokens for page text after "
                    f"sampling.max_tokens={self.max_tokens} and the {overhead} of {template.prompt_id}: raise it"
                )

    def process(self, record: PageWindow) -> list[PromptedWindow]:
        template = choose_template(self.templates, record.doc_id, self.seed)
        document = document_text(record.texts, template.page_separator)
        budget = self.max_model_len - self.max_tokens
        language = language_name(record.language) or UNKNOWN_LANGUAGE
        encode = lambda text: encode_prompt(self.tokenizer, template, text, self.max_pairs, language=language)
        prompt_ids, doc_ids, kept = fit_prompt(self.tokenizer, encode, document, budget)
        return [
            extend(
                PromptedWindow,
                record,
                prompt_id=template.prompt_id,
                prompt_sha256=template.sha256,
                prompt_token_ids=prompt_ids,
                document_tokens=len(doc_ids),
                document_tokens_dropped=len(doc_ids) - kept,
            )
        ]
