"""Precision and recall of the checks every QA pair must pass, on a labelled set of pairs about the project's
generated sample PDFs (tests/fixtures/check_labels.jsonl, page texts in check_pages.json).

    .venv/bin/python bench/checks.py

The set: the 104 pairs the embedded engine wrote (the pairs of grounding_labels.jsonl) and 70 written by
hand with the errors strong models make (a wrong number, a value from the wrong row, an answer the page
does not give, an unanswerable question, a generic question, a statement instead of a question, a
"cross-page" question one page answers), each labelled right or wrong by reading its pages, with the
kind of error. The round trip's answers are the embedded engine's, captured by
tests/fixtures/capture_roundtrip.py exactly as the generate stage asks them.

"Positive" means the check drops the pair: precision is the share of dropped pairs that are wrong, recall
the share of wrong pairs it drops (of all wrong pairs, and of the wrong pairs of the kinds it is for). The
pairs are split in two fixed halves by a hash of question and answer (bench/grounding.py's split); the
round trip's `roundtrip_min_overlap` is chosen on the `tune` half (best F1; ties: the lower, which drops
less), and every figure is given on the `held-out` half. The judge is not measured: no model that can
judge runs here.
"""

import json
from pathlib import Path
from typing import NamedTuple

from bench.grounding import half_of
from docqa.config import FilterConfig
from docqa.generate.prompts import load_template
from docqa.quality.filters import PairFilter, drop_reason, generic_question, not_a_question, pair_filters, window_text
from docqa.quality.grounding import support_score
from docqa.quality.verify import answers_agree
from docqa.records import QAPair

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "fixtures" / "check_labels.jsonl"
PAGES = ROOT / "tests" / "fixtures" / "check_pages.json"
OVERLAPS = (0.25, 0.34, 0.5, 0.67, 0.75, 1.0)
CROSSPAGE = "docmatix-crosspage-completion-v1"


class Figures(NamedTuple):
    pairs: int
    dropped: int
    precision: float
    recall: float
    recall_on_kind: float


def rows() -> list[dict]:
    return [json.loads(line) for line in LABELS.read_text().splitlines()]


def _template_of(row: dict) -> str:
    if row["role"] == "crosspage":
        return CROSSPAGE
    return row["origin"].partition(":")[2] or "docmatix-qa-completion-v1"


def figures(labelled: list[dict], drops: list[bool], kinds: set[str]) -> Figures:
    wrong = [row["verdict"] == "wrong" for row in labelled]
    dropped_wrong = sum(d and w for d, w in zip(drops, wrong, strict=True))
    of_kind = [row["error"] in kinds for row in labelled]
    return Figures(
        pairs=len(labelled),
        dropped=sum(drops),
        precision=dropped_wrong / max(sum(drops), 1),
        recall=dropped_wrong / max(sum(wrong), 1),
        recall_on_kind=sum(d and k for d, k in zip(drops, of_kind, strict=True)) / max(sum(of_kind), 1),
    )


def text_check(check: PairFilter) -> callable:
    def drops(row: dict, pages: list[str]) -> bool:
        return check(QAPair(row["question"], row["answer"]), window_text(pages)) is not None

    return drops


def every_text_filter(row: dict, pages: list[str]) -> bool:
    """What a run drops before the model checks, every filter at its default."""
    template = load_template(ROOT / "prompts", _template_of(row))
    filters = pair_filters(FilterConfig(), template)
    return drop_reason(QAPair(row["question"], row["answer"]), window_text(pages), filters) is not None


def roundtrip(min_overlap: float) -> callable:
    def drops(row: dict, pages: list[str]) -> bool:
        return not answers_agree(row["answer"], row["roundtrip_answer"], min_overlap)

    return drops


def grounding(row: dict, pages: list[str]) -> bool:
    return support_score(row["answer"], window_text(pages)) < FilterConfig().min_support


def evaluate(labelled: list[dict], pages: dict[str, list[str]], drops: callable, kinds: set[str]) -> Figures:
    return figures(labelled, [drops(row, pages[row["source"]]) for row in labelled], kinds)


def f1(result: Figures) -> float:
    total = result.precision + result.recall
    return 2 * result.precision * result.recall / total if total else 0.0


def main() -> None:
    labelled, pages = rows(), json.loads(PAGES.read_text())
    tune = [row for row in labelled if half_of(row["question"], row["answer"]) == "tune"]
    held = [row for row in labelled if half_of(row["question"], row["answer"]) == "held-out"]
    crosspage = [row for row in held if row["role"] == "crosspage"]
    evidence = pair_filters(FilterConfig(), load_template(ROOT / "prompts", CROSSPAGE))[-1]
    answered = {"wrong_number", "wrong_row", "does_not_answer", "unanswerable", "not_on_page"}
    every_kind = answered | {"generic", "not_a_question", "single_page"}
    checks = [
        ("not_a_question", held, text_check(not_a_question), {"not_a_question"}),
        ("generic_question", held, text_check(generic_question), {"generic"}),
        ("single_page_evidence (cross-page role)", crosspage, text_check(evidence), {"single_page"}),
        ("ungrounded (min_support 0.7)", held, grounding, {"not_on_page"}),
        ("every text filter, defaults", held, every_text_filter, every_kind),
    ]
    print(f"labelled pairs: {len(labelled)} ({sum(r['verdict'] == 'wrong' for r in labelled)} wrong); "
          f"tune half {len(tune)}, held-out half {len(held)} ({sum(r['verdict'] == 'wrong' for r in held)} wrong)")
    if all("roundtrip_answer" in row for row in labelled):
        chosen = max(OVERLAPS, key=lambda m: (round(f1(evaluate(tune, pages, roundtrip(m), answered)), 9), -m))
        for overlap in OVERLAPS:
            mark = " <- chosen on tune" if overlap == chosen else ""
            checks.append((f"roundtrip_mismatch (min_overlap {overlap}){mark}", held, roundtrip(overlap), answered))
        passed = [row for row in held if not every_text_filter(row, pages[row["source"]])]
        name = f"roundtrip_mismatch ({chosen}), on pairs every text filter keeps"
        checks.append((name, passed, roundtrip(chosen), answered))
        embedded = [row for row in held if row["origin"] != "hand"]
        name = f"roundtrip_mismatch ({chosen}), the embedded model's pairs"
        checks.append((name, embedded, roundtrip(chosen), answered))
    else:
        print("no round-trip answers in the labelled set: run tests/fixtures/capture_roundtrip.py")
    print("\n| check (held-out half) | pairs | dropped | precision | recall | recall on its kind |")
    print("|---|---|---|---|---|---|")
    for name, subset, drops, kinds in checks:
        result = evaluate(subset, pages, drops, kinds)
        print(f"| {name} | {result.pairs} | {result.dropped} | {result.precision:.2f} | {result.recall:.2f} | "
              f"{result.recall_on_kind:.2f} |")


if __name__ == "__main__":
    main()
