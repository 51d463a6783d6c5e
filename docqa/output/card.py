"""The dataset card: README.md with YAML that `datasets` and the Hub read, and a body people read."""

from __future__ import annotations

import json
from typing import Any

import datasets
import yaml

from docqa.config import Config
from docqa.generate.prompts import PromptTemplate
from docqa.output.provenance import recorded_entry
from docqa.output.report import PLOTS
from docqa.output.schema import COLUMN_DESCRIPTIONS, FEATURES
from docqa.output.summary import cost_line
from docqa.quality.language import UNDETERMINED, language_name


def card_header(examples_per_split: dict[str, int], license: str, languages: list[str] | None = None) -> str:
    """YAML front matter; only splits that have rows are declared (a split without files would not load).
    `languages` (ISO 639-1 codes) become the Hub's `language` tag."""
    splits = {name: datasets.SplitInfo(name, num_examples=n) for name, n in examples_per_split.items() if n}
    info = datasets.DatasetInfo(features=FEATURES, splits=datasets.SplitDict(splits))
    data_files = [{"split": name, "path": f"data/{name}-*"} for name in splits]
    header = {
        "license": license,
        **({"language": languages} if languages else {}),
        "task_categories": ["visual-question-answering"],
        "configs": [{"config_name": "default", "data_files": data_files}],
        "dataset_info": info._to_yaml_dict(),
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n"


# What `source_path` (and the other places a document is named) holds, by `output.source_paths`.
SOURCE_PATHS = {
    "full": "Documents are named by their full path or URL (`output.source_paths: full`), without URL "
    "credentials or query strings.",
    "relative": "Documents are named by their path below the input entry they were found under "
    "(`output.source_paths: relative`).",
    "hash": "Documents are named by the first 16 hex digits of the sha256 of their full path or URL, without "
    "URL credentials or query strings (`output.source_paths: hash`).",
}


def language_label(code: str) -> str:
    return f"{language_name(code)} (`{code}`)" if code != UNDETERMINED else "undetermined (too little text to tell)"


PII_POLICIES = {
    "keep": "not looked for (`pii.policy: keep`): pairs may repeat names, addresses and numbers printed on the pages.",
    "drop_pair": "pairs holding it were dropped (`pii.policy: drop_pair`); the page images still show it.",
    "drop_window": "examples with a pair holding it were left out, pages and all (`pii.policy: drop_window`).",
}


def personal_data_removed(config: Config, removed: dict[str, dict[str, int]]) -> str:
    """The personal data policy and what it removed, per kind, in words."""
    kinds = ", ".join(kind.replace("_", " ") for kind in config.pii.kinds)
    line = f"{kinds} in questions and answers: {PII_POLICIES[config.pii.policy]}"
    if config.pii.policy == "keep":
        return line
    counts = "; ".join(
        f"{kind.replace('_', ' ')}: {n.get('pairs_removed', 0)} QA pairs, {n.get('windows_removed', 0)} windows"
        for kind, n in removed.items()
    )
    return f"{line} Removed: {counts or 'nothing'} (a pair may hold several kinds)."


def eval_sets_removed(config: Config, removed: dict[str, dict[str, int]]) -> str:
    """What each eval set removed, in words; every configured set is named, those that removed nothing too."""
    d = config.decontaminate
    if not d.eval_sets:
        return "none were given (`decontaminate.eval_sets`): pages were not checked against any benchmark."
    lines = [
        (
            f"windows with a page within {d.max_page_distance} of 256 bits (perceptual hash) of an eval set's image "
            f"were rejected; pairs whose question overlaps an eval question (word {d.question_ngram}-gram Jaccard of at "
            f"least {d.min_question_overlap}) on a page within {d.max_pair_page_distance} bits of its image were dropped "
            "(`contaminated`). Removed, per eval set:"
        )
    ]
    for name in d.eval_sets:
        counts = removed.get(name, {})
        lines.append(
            f"  - `{name}`: {counts.get('windows_removed', 0)} windows ({counts.get('pages_removed', 0)} pages), "
            f"{counts.get('pairs_removed', 0)} QA pairs"
        )
    return "\n".join(lines)


# What each generator of `qa.generators` does, for the card.
GENERATORS = {
    "llm": "the LLM wrote pairs from the page text",
    "table": "ruled tables, each cell asked for by its column header and row label",
    "form": "filled form fields asked for by their label, check boxes as Yes/No",
    "key_value": "label/value lines such as 'Invoice date: 12 March 2024'",
}


def origins_line(config: Config, kept: dict[str, int]) -> str:
    """Which generators ran, and how many kept pairs each gave."""
    parts = [f"`{g}` ({GENERATORS[g]}): {kept.get(g, 0)} kept" for g in config.qa.generators]
    limit = config.qa.max_structure_pairs_per_page
    cap = f"; at most {limit} structure pairs per page (`over_page_limit`)" if limit else ""
    return "; ".join(parts) + cap


def dataset_card(config: Config, templates: list[PromptTemplate], model: str, stats: dict[str, Any]) -> str:
    name = config.output.dataset_name
    dotted = "; also any text matching `\\w+\\.\\w+` (the Docmatix rule)" if config.filters.drop_dotted_words else ""
    ocr = f"Tesseract, languages {'+'.join(config.text.ocr_languages)}" if config.text.ocr else "OCR was off"
    prompts = "\n".join(f"  - `{t.prompt_id}` ({t.form} form), sha256 `{t.sha256}`" for t in templates)
    mode = config.output.source_paths
    sources = ", ".join(f"`{recorded_entry(p, mode)}`" for p in config.input.paths)
    sources = sources or "the built-in sample corpus of generated PDFs"
    f = config.filters
    language = " pairs in another language than their pages' text," if f.match_document_language else ""
    grounding = f" (support below {f.min_support})" if f.min_support else " (off: scores kept, nothing dropped)"
    near = f" and near-repeats (question and answer words each overlapping at least {f.near_duplicate_jaccard})" if f.near_duplicate_jaccard else ""
    quality = stats.get("quality", {})
    plots = "\n".join(f"![{title}](report/{name})" for name, (title, _) in PLOTS.items()) if quality else ""
    drops = "\n".join(f"- `{r}`: {rate:.1%}" for r, rate in quality.get("qa_drop_rate_by_reason", {}).items()) or "- none"
    languages = quality.get("examples_per_language", {})
    language_mix = ", ".join(f"{language_label(code)} {n}" for code, n in languages.items()) or "none"
    decontamination = eval_sets_removed(config, quality.get("removed_as_contaminated", {}))
    personal_data = personal_data_removed(config, quality.get("removed_for_personal_data", {}))
    cost = f"\n## Cost\n\nMeasured in the stages: {cost_line(stats['cost'])}.\n" if "cost" in stats else ""
    version = (
        f"\n- **Pipeline:** docqa-pipeline {stats['pipeline_version']}; rows of schema version {stats['schema_version']}."
        if "pipeline_version" in stats
        else ""
    )
    columns = "\n".join(f"| `{column}` | {text} |" for column, text in COLUMN_DESCRIPTIONS.items())
    tags = [code for code in languages if code != UNDETERMINED]
    return f"""{card_header(stats["examples_per_split"], config.output.license, tags)}
# {name}

Document question answering examples for training vision-language models, made the way Docmatix was:
PDF pages rendered to images, their text given to an LLM that wrote question/answer pairs, the pairs
parsed and filtered; pairs are also read off the PDFs' own tables, form fields and label/value lines, their
answers printed on the page by construction (each pair's `origin` says which). Each row holds up to
{config.render.max_pages_per_example} page images of one PDF and the QA pairs about them.

## How it was made

- **Source:** {stats.get("inputs", 0)} input(s): {sources}. {SOURCE_PATHS[mode]}
- **QA pairs:** {origins_line(config, stats.get("qa_kept_by_origin", {}))}.
- **Model:** `{model}`, sampling temperature {config.sampling.temperature}, top_p {config.sampling.top_p},
  max_tokens {config.sampling.max_tokens}, seed {config.sampling.seed}; answers constrained to JSON.
- **Prompts:** one per document, drawn from its hash (seed {config.prompt.seed}); each row names its own:
{prompts}
- **Pages:** rendered at {config.render.dpi} dpi, longest side at most {config.render.max_side_px} px,
  encoded as {config.render.image_format.upper()}; text from the PDF's text layer, or from OCR
  ({ocr}) where the layer was missing or implausible.
- **Filters:** dropped are empty texts, "unanswerable", refusals and meta-answers ("the document does not
  say"), code-like text, Q#/A# markers, questions of fewer than {f.min_question_tokens} or more than
  {f.max_question_tokens} tokens, answers of fewer than {f.min_answer_tokens} or more than {f.max_answer_tokens},
  repetitive answers, questions that contain their answer, pairs copied from the prompt's examples,{language}
  answers the page text does not support{grounding}{dotted}, and repeated questions. Across the whole
  dataset, exact repeats of a pair{near} are dropped too. Every dropped pair is in `dropped/` with its reason.
- **Languages:** examples by the language of their pages' text, identified by lingua (`language`
  column): {language_mix}.
- **Personal data:** {personal_data}
- **Evaluation sets kept out:** {decontamination}
- **Grounding:** each pair's `support` (0 to 1) says how well the page text supports the answer; `page`
  and `boxes` say where on which image the answer is printed.{version}

## Quality

{plots}

Share of QA pairs dropped by reason, of {stats.get("qa_generated", 0)} generated (`stats.json` → `quality`):
{drops}
{cost}
## Statistics

```json
{json.dumps(stats, indent=2)}
```

Splits: `test` holds about {config.output.test_fraction:.0%} of the documents, chosen by document hash; all
windows of a document, and of its near-copies (word 5-gram Jaccard similarity of at least
{config.output.split_near_duplicate_jaccard}), are in the same split. Row `id`s are stable across reruns
and regenerations. Documents that produced no example are listed with the reason in `rejects/`.

## Columns

| column | meaning |
|---|---|
{columns}

## Use

```python
from datasets import load_dataset

ds = load_dataset("path/to/this/folder-or-hub-repo", split="train")
ds[0]["images"][0]  # a PIL image
ds[0]["texts"]      # [{{"user": question, "assistant": answer, "source": ..., "origin": "llm"}}, ...]
```
"""
