"""Precision and recall of the grounding filter on QA pairs written by the embedded engine about the
project's generated sample PDFs, each labelled by hand as supported by its page text or not
(tests/fixtures/grounding_labels.jsonl).

    .venv/bin/python bench/grounding.py

Each pair is scored the way the pipeline scores it: its window goes through the parse stage (ParseQA)
with the page text as the load stage hands it on, and the pair's `support` is read back. The last line of
each half is what a run keeps, every filter on at the defaults (some unsupported answers are copies of
the prompt's examples, dropped as `copied_from_prompt` whatever their support).

"Positive" means the filter keeps the pair (support >= threshold): precision is the share of kept pairs
that are supported, recall the share of supported pairs that are kept. A supported answer can still be
the wrong answer to its question ("1,126 people" for the number of passengers, when 1,126 is the staff):
the `correct` column is the share of kept pairs that are also correct, which grounding alone cannot ensure.

The pairs are split in two fixed halves by a hash of the question and answer (a pair asked again in
another window lands in the same half): the threshold is chosen on the `tune` half, as the one with the
best F1 (ties: the higher threshold, which keeps fewer unsupported answers), and precision and recall on
the `held-out` half are what to expect of it on pairs it was not chosen on.
"""

import hashlib
import json
from pathlib import Path
from typing import NamedTuple

from docqa.config import FilterConfig
from docqa.generate.prompts import load_template
from docqa.quality.annotate import ParseQA
from docqa.records import GeneratedWindow

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "fixtures" / "grounding_labels.jsonl"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class Labelled(NamedTuple):
    support: float
    supported: bool  # hand label: the page text states the answer
    correct: bool  # hand label: and it answers the question
    half: str  # "tune" or "held-out"
    kept_by_default: bool  # the parse stage keeps it with every filter at its default


class Figures(NamedTuple):
    kept: int
    precision: float
    recall: float
    correct: float


def half_of(question: str, answer: str) -> str:
    digest = hashlib.blake2b(f"{question}\t{answer}".encode(), digest_size=8).digest()
    return "tune" if digest[0] % 2 == 0 else "held-out"


def _parse_stage(window: dict, config: FilterConfig) -> tuple[dict[tuple[str, str], float], set[tuple[str, str]]]:
    """The support the parse stage gives each pair of a labelled window (pairs a filter drops keep their
    score), and the pairs it keeps."""
    stage = ParseQA(config, [load_template(ROOT / "prompts", window["prompt_id"])])
    completion = json.dumps({"pairs": [{"question": p["question"], "answer": p["answer"]} for p in window["pairs"]]})
    record = GeneratedWindow(
        window["source"], "labelled", 1, 0, [0], texts=[window["document"]], prompt_id=window["prompt_id"],
        completion=completion, finish_reason="stop",
    )
    (annotated,) = stage([record])
    support = {(p.question, p.answer): p.support for p in [*annotated.qa, *annotated.dropped]}
    return support, {(p.question, p.answer) for p in annotated.qa}


def labelled_scores() -> list[Labelled]:
    scored = []
    for line in LABELS.read_text().splitlines():
        window = json.loads(line)
        support, _ = _parse_stage(window, FilterConfig(min_support=0))  # grounding off: every pair scored
        _, kept = _parse_stage(window, FilterConfig())
        for pair in window["pairs"]:
            key = (pair["question"], pair["answer"])
            scored.append(Labelled(support[key], pair["supported"], pair["correct"], half_of(*key), key in kept))
    return scored


def figures(scored: list[Labelled], threshold: float | None) -> Figures:
    """Precision and recall against the `supported` labels, and the share of kept pairs that are correct,
    of the pairs whose support reaches `threshold` (None: of those a run keeps, every filter on)."""
    kept = [pair for pair in scored if (pair.kept_by_default if threshold is None else pair.support >= threshold)]
    supported_kept = sum(pair.supported for pair in kept)
    return Figures(
        kept=len(kept),
        precision=supported_kept / max(len(kept), 1),
        recall=supported_kept / max(sum(pair.supported for pair in scored), 1),
        correct=sum(pair.correct for pair in kept) / max(len(kept), 1),
    )


def f1(result: Figures) -> float:
    total = result.precision + result.recall
    return 2 * result.precision * result.recall / total if total else 0.0


def chosen_threshold(scored: list[Labelled]) -> float:
    """The threshold with the best F1 on the tune half; on a tie, the higher one."""
    tune = [pair for pair in scored if pair.half == "tune"]
    return max(THRESHOLDS, key=lambda threshold: (round(f1(figures(tune, threshold)), 9), threshold))


def main() -> None:
    scored = labelled_scores()
    chosen = chosen_threshold(scored)
    for half in ("tune", "held-out"):
        pairs = [pair for pair in scored if pair.half == half]
        print(f"\n{half}: {len(pairs)} labelled pairs, {sum(p.supported for p in pairs)} supported by their page text")
        print("threshold  kept  precision  recall  correct")
        for threshold in THRESHOLDS:
            result = figures(pairs, threshold)
            marks = [
                "chosen on tune" if threshold == chosen else "",
                "filters.min_support" if threshold == FilterConfig().min_support else "",
            ]
            mark = "  <- " + ", ".join(m for m in marks if m) if any(marks) else ""
            print(f"{threshold:9.1f}  {result.kept:4d}  {result.precision:9.3f}  {result.recall:6.3f}  "
                  f"{result.correct:7.3f}{mark}")
        result = figures(pairs, None)
        print(f"  run     {result.kept:4d}  {result.precision:9.3f}  {result.recall:6.3f}  {result.correct:7.3f}"
              "  <- every filter at its default")


if __name__ == "__main__":
    main()
