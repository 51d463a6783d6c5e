"""Settings of docqa/quality: the pair filters, personal data, and the evaluation sets kept out of the dataset."""

from __future__ import annotations

from typing import Literal

import phonenumbers
from pydantic import Field, field_validator

from docqa.config.section import Section

# Decontamination thresholds in bits of 256, chosen by bench/decontamination.py (see README).
PAGE_DISTANCE = 74
PAIR_PAGE_DISTANCE = 87


class FilterConfig(Section):
    drop_dotted_words: bool = Field(
        False,
        description="Docmatix's `\\w+\\.\\w+` rule, which drops code-like text but also numeric answers such "
        "as 3.5. Off by default; turn on to reproduce Docmatix exactly.",
    )
    min_question_tokens: int = Field(2, ge=1, description="Shorter questions are dropped (`question_too_short`). "
        "Tokens are words and whole numbers (\"2,774.04\" is one), and each CJK character counts as one, so "
        "lengths do not depend on the model.")
    max_question_tokens: int = Field(60, gt=0, description="Longer questions are dropped (`question_too_long`).")
    min_answer_tokens: int = Field(1, ge=1, description="Shorter answers are dropped (`answer_too_short`).")
    max_answer_tokens: int = Field(150, gt=0, description="Longer answers are dropped (`answer_too_long`).")
    min_support: float = Field(
        0.7,
        ge=0,
        le=1,
        description="Grounding: pairs whose answer the window's page text supports less than this are dropped "
        "(`ungrounded`). 1.0 means the answer occurs verbatim once both are folded (case, accents, punctuation "
        "and digit grouping ignored, numbers matched whole: \"35\" is not found in \"0.35\"); below, the share "
        "of its words and numbers found together in one passage, each missing number counting twice. 0 turns "
        "the filter off; the score is stored on every pair. 0.7 is the best F1 on one half of 104 hand-labelled "
        "engine outputs; on the other half it kept 12 pairs, 5 of them supported, and every supported one "
        "(precision 0.42, recall 1.0; bench/grounding.py).",
    )
    match_document_language: bool = Field(
        True,
        description="Drop a pair written in another language than its window's page text (`language_mismatch`, "
        "with the pair's language in `about`), as identified by lingua (docqa/quality/language.py) where the "
        "page text and the question and answer together each hold at least 20 letters and one language has 0.9 "
        "of lingua's confidence; shorter or unclear texts are not judged. Off: pairs in any language are kept.",
    )
    roundtrip: bool = Field(
        False,
        description="Round trip: the generating model answers each question again from the page text alone "
        "(prompts/checks/roundtrip-answer-*), with the engine or endpoint that generated, and a pair whose two answers "
        "disagree is dropped (`roundtrip_mismatch`). Only pairs that pass every other filter are asked about. "
        "Answers agree when their numbers are the same and their words overlap by `roundtrip_min_overlap`. "
        "Off by default: see the README's quality section for what it does to the embedded model's pairs "
        "and what it costs.",
    )
    roundtrip_min_overlap: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Least share of the shorter answer's words (stop words aside; numbers whole) that the other "
        "answer must hold for the two to agree; the sets of numbers must be equal besides.",
    )
    roundtrip_max_tokens: int = Field(48, gt=0, description="Most tokens the model writes for a round-trip answer.")
    judge: bool = Field(
        False,
        description="Judge: the generating model scores each pair against the page text on five rubrics "
        "(prompts/checks/judge-rubric-*, JSON), kept in the dataset's `checks` column; a pair whose weighted score is "
        "below `judge_min_score` is dropped as `judge_<rubric>`, naming its lowest rubric. Meant for instruct "
        "models of 7B and more (configs/gpu.yaml); a small base model cannot judge.",
    )
    judge_min_score: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Least weighted judge score (0: every rubric 1 of 5; 1: every rubric 5 of 5) a pair keeps.",
    )
    judge_max_tokens: int = Field(96, gt=0, description="Most tokens the model writes for one judgement.")
    check_prompts: list[str] = Field(
        default_factory=lambda: [
            "roundtrip-answer-completion-v1",
            "roundtrip-answer-chat-v1",
            "judge-rubric-completion-v1",
            "judge-rubric-chat-v1",
        ],
        description="Prompt templates, in `prompts/checks/`, of the round trip (ids starting `roundtrip-`) and of "
        "the judge (`judge-`); each window is checked with the one of the same form (completion or chat) as the "
        "template it was generated with.",
    )
    near_duplicate_jaccard: float | None = Field(
        0.8,
        gt=0,
        le=1,
        description="Across the whole dataset, a pair whose words (question and answer together) overlap an "
        "earlier kept pair's by at least this Jaccard similarity is dropped (`near_duplicate`); exact "
        "repeats after normalisation are dropped as `duplicate`. Null keeps near-duplicates (exact repeats "
        "are always dropped).",
    )


class PiiConfig(Section):
    policy: Literal["keep", "drop_pair", "drop_window"] = Field(
        "drop_pair",
        description="What a QA pair holding personal data (see `kinds`; docqa/quality/pii.py) costs. drop_pair: "
        "the pair is dropped (`personal_data`, the kinds found in `about`); drop_window: its whole window is "
        "rejected (kind `personal_data`), so the page images that show the data are not published either, and "
        "its other pairs are dropped as `personal_data_in_window`; keep: nothing is checked. Dropped pairs go "
        "to dropped/ with each finding replaced by its kind in brackets ([email]).",
    )
    kinds: list[Literal["email", "phone", "iban", "id_number", "person_name"]] = Field(
        default_factory=lambda: ["email", "phone", "iban", "id_number", "person_name"],
        description="What counts as personal data: e-mail addresses; phone numbers (validated by phonenumbers); "
        "IBANs with valid check digits; ID, tax and VAT numbers with valid checksums (python-stdnum; national "
        "numbers only where the pair names an identifier); person names, where the question asks for a person "
        "and the answer is two to four capitalised words (also the authors of a paper).",
    )
    phone_regions: list[str] = Field(
        default_factory=lambda: ["US", "GB", "DE", "FR", "ES", "IT", "NL", "PL"],
        description="Regions (ISO 3166-1 alpha-2) whose national phone formats are recognised (\"0431 55 20 19\" "
        "is a German number); numbers written with a +/00 country prefix are recognised from anywhere. Each "
        "region adds numbers that may be read as phones by mistake.",
    )

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, regions: list[str]) -> list[str]:
        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown phone region(s) {', '.join(unknown)}: use ISO 3166-1 alpha-2 codes such as DE")
        return regions


class DecontaminateConfig(Section):
    eval_sets: list[str] = Field(
        default_factory=list,
        description="Evaluation sets to keep out of the dataset (copies you hold of DocVQA, InfoVQA, ChartQA...; "
        "nothing is downloaded): local paths or fsspec URLs of Parquet files, of folders of Parquet or Arrow "
        "files (the Hub's layout, `datasets.save_to_disk`), or glob patterns of such files (one split). Each "
        "needs a column of images (`image` or `images`: {bytes, path} structs or raw bytes, or lists of them) "
        "and one of questions (`question`, `query`, "
        "`questions`, `queries` or `texts`: strings, lists of strings, or lists of structs with a `user`, "
        "`question` or `query` field). A window with a page that is an eval image is rejected; a pair asking "
        "an eval question about a page like that question's image is dropped (`contaminated`). Empty: no check.",
    )
    index_dir: str = Field(
        ".cache/eval-index",
        description="Folder (or fsspec URL) where each eval set's index is cached, named by the content hash of "
        "its files: built on first use, found again while the files are unchanged.",
    )
    max_page_distance: int = Field(
        PAGE_DISTANCE,
        ge=0,
        le=256,
        description="A page whose perceptual hash (256 bits; 16 crops of its inked area, the best pairing with "
        "an eval image's crops counts) differs from an eval image's in at most this many bits is that image: "
        "its window is rejected. Chosen on half of a labelled set of shared/corpus pages re-encoded, resized, "
        "cropped 2-5 % and rotated 1 degree; on the other half it caught 28 of 29 and matched 0 of 48 "
        "unrelated pages, but also a differently filled copy of the same form (bench/decontamination.py, README).",
    )
    max_pair_page_distance: int = Field(
        PAIR_PAGE_DISTANCE,
        ge=0,
        le=256,
        description="Looser bound for pairs: a pair whose question overlaps an eval question is dropped only when "
        "a page of its window is within this many bits of that question's image (never on the question alone: "
        "templated questions such as 'What is the date?' are asked of every form).",
    )
    question_ngram: int = Field(3, gt=0, description="Questions are compared as sets of word n-grams of this n.")
    min_question_overlap: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Jaccard similarity of n-gram sets at or above which a question counts as an eval question.",
    )
