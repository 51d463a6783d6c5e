"""Precision and recall of the grounding filter on QA pairs written by the embedded engine about the
project's generated sample PDFs, each labelled by hand as supported by its page text or not
(tests/fixtures/grounding_labels.jsonl).

    .venv/bin/python bench/grounding.py

"Positive" means the filter keeps the pair (support >= threshold): precision is the share of kept pairs
that are supported, recall the share of supported pairs that are kept. A supported answer can still be
the wrong answer to its question ("1,126 people" for the number of passengers, when 1,126 is the staff):
the last column is the share of kept pairs that are also correct, which grounding alone cannot ensure.
"""

import json
from pathlib import Path

from docqa.config import FilterConfig
from docqa.quality.grounding import support_score

LABELS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "grounding_labels.jsonl"


def labelled_scores() -> list[tuple[float, bool, bool]]:
    """(support score, supported by hand label, correct by hand label) per pair."""
    scored = []
    for line in LABELS.read_text().splitlines():
        window = json.loads(line)
        for pair in window["pairs"]:
            score = support_score(pair["answer"], window["document"])
            scored.append((score, pair["supported"], pair["correct"]))
    return scored


def precision_recall(scored: list[tuple[float, bool, bool]], threshold: float) -> tuple[float, float, float, int]:
    """Precision and recall against the `supported` labels, and the share of kept pairs that are correct."""
    kept = [(supported, correct) for score, supported, correct in scored if score >= threshold]
    supported_kept = sum(s for s, _ in kept)
    precision = supported_kept / max(len(kept), 1)
    recall = supported_kept / max(sum(s for _, s, _ in scored), 1)
    return precision, recall, sum(c for _, c in kept) / max(len(kept), 1), len(kept)


def main() -> None:
    scored = labelled_scores()
    print(f"{len(scored)} labelled pairs, {sum(s for _, s, _ in scored)} supported by their page text")
    print("threshold  kept  precision  recall  correct")
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        precision, recall, correct, kept = precision_recall(scored, threshold)
        mark = "  <- filters.min_support" if threshold == FilterConfig().min_support else ""
        print(f"{threshold:9.1f}  {kept:4d}  {precision:9.3f}  {recall:6.3f}  {correct:7.3f}{mark}")


if __name__ == "__main__":
    main()
