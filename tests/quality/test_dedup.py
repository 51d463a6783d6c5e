"""Duplicate QA pairs across the dataset and near-copy documents kept in one split."""

import random
from functools import partial

import pymupdf
import pytest

from docqa.config import InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.ingest.load import LoadDocuments
from docqa.output.shards import split_of
from docqa.quality.dedup import (
    DedupDecisions,
    band_keys,
    document_keys,
    document_links,
    group_by_key,
    jaccard,
    minhash,
    pair_keys,
    pair_links,
    pair_signature,
    word_shingles,
)
from docqa.quality.folding import folded_text
from docqa.records import AnnotatedWindow, QAPair, extend, to_table
from docqa.runtime.units import UnitStore
from tests.conftest import load_fresh
from tests.output.test_assembly import assemble


def test_minhash_estimates_jaccard_similarity():
    rng = random.Random(0)
    words = [f"w{i}" for i in range(400)]
    for shared in (0.2, 0.5, 0.8):
        a = set(rng.sample(words, 100))
        b = set(rng.sample(sorted(a), int(100 * shared))) | set(rng.sample(sorted(set(words) - a), 100 - int(100 * shared)))
        estimate = (minhash(a) == minhash(b)).mean()
        assert estimate == pytest.approx(len(a & b) / len(a | b), abs=0.15)


def decide(windows: list[AnnotatedWindow], near_duplicate_jaccard: float | None = 0.8) -> DedupDecisions:
    """What the deduplication decides about `windows`, each its own unit in the order given, grouped in
    this process as the local runner groups."""
    tables = [to_table(AnnotatedWindow, [w]) for w in windows]
    decisions = DedupDecisions()
    decisions.add(group_by_key((document_keys(t, unit) for unit, t in enumerate(tables)), partial(document_links, threshold=0.7)))
    copies = dict(decisions.copies)
    keyed = (pair_keys(t, unit, copies.get(unit, {}), near_duplicate_jaccard is not None) for unit, t in enumerate(tables))
    decisions.add(group_by_key(keyed, partial(pair_links, threshold=near_duplicate_jaccard)))
    decisions.settle_pairs()
    return decisions


def verdicts(windows: list[AnnotatedWindow], near_duplicate_jaccard: float | None = 0.8) -> list[list[str | None]]:
    """Per window, per pair: None where kept, else the reason it was dropped."""
    decided = decide(windows, near_duplicate_jaccard).within(0, len(windows))
    return [[decided[unit].drops.get((0, i)) if unit in decided else None for i in range(len(w.qa))] for unit, w in enumerate(windows)]


def window(doc: str, *pairs: tuple[str, str], path: str = "") -> AnnotatedWindow:
    return AnnotatedWindow(path or f"/in/{doc}.pdf", doc * 64, qa=[QAPair(q, a) for q, a in pairs], unit_last=True)


@pytest.mark.parametrize(
    "first, second, verdict",
    [
        (("What is the total amount due?", "EUR 2,774.04"), ("what is the total amount due", "EUR 2774.04"), "duplicate"),
        (("What is the total amount due on the invoice?", "EUR 2,774.04"),
         ("What is the total amount due on this invoice?", "EUR 2,774.04"), "near_duplicate"),
        # the same question about another document, with its own answer, is not a repeat
        (("What is the title of the document?", "Annual report 2023"),
         ("What is the title of the document?", "Annual report 2022"), None),
        (("Who signed the permit?", "Jonas Lindqvist"), ("When does the permit expire?", "30 September 2024"), None),
    ],
)
def test_a_pair_said_again_in_a_later_input_is_dropped(first, second, verdict):
    assert verdicts([window("a", first), window("b", second)]) == [[None], [verdict]]


def test_a_chain_of_near_duplicates_drops_only_pairs_near_a_kept_one():
    """b is near a, c near b but not near a: b goes, so c stays (it repeats no pair of the dataset)."""
    a = ("Which ferry leaves pier four at noon on Mondays?", "The Lindholm ferry")
    b = ("Which ferry leaves pier four at noon on Mondays and Fridays?", "The Lindholm ferry")
    c = ("Which ferry leaves pier four at noon, and on Fridays?", "The Lindholm ferry")
    assert verdicts([window("a", a), window("b", b), window("c", c)]) == [[None], ["near_duplicate"], [None]]
    assert verdicts([window("c", c), window("b", b), window("a", a)]) == [[None], ["near_duplicate"], [None]]
    assert verdicts([window("b", b), window("a", a), window("c", c)]) == [[None], ["near_duplicate"], ["near_duplicate"]]
    assert verdicts([window("a", a), window("b", b), window("c", c)], None) == [[None], [None], [None]]


def in_order(pairs: list[tuple[str, str]], threshold: float) -> list[str | None]:
    """The reference: one pass in input order, each pair compared with the earlier kept pairs that share a
    band of its signature."""
    seen, kept, verdict = set(), [], []
    for question, answer in pairs:
        folded = (folded_text(question), folded_text(answer))
        if folded in seen:
            verdict.append("duplicate")
            continue
        seen.add(folded)
        bands = set(band_keys(pair_signature(*folded)))
        words = [set(t.split()) for t in folded]
        near = any(
            bands & theirs and all(jaccard(mine, other) >= threshold for mine, other in zip(words, their_words))
            for theirs, their_words in kept
        )
        verdict.append("near_duplicate" if near else None)
        if not near:
            kept.append((bands, words))
    return verdict


def test_pairs_spread_over_inputs_get_the_verdicts_of_one_pass_in_input_order():
    rng = random.Random(7)
    words = ["ferry", "pier", "noon", "gate", "route", "north", "harbour"]
    windows = [
        window(f"{i:x}", *[(" ".join(sorted(rng.sample(words, 6))), " ".join(sorted(rng.sample(words[:4], 3)))) for _ in range(3)])
        for i in range(40)
    ]
    expected = in_order([(p.question, p.answer) for w in windows for p in w.qa], 0.6)
    got = [v for per_window in verdicts(windows, 0.6) for v in per_window]
    assert got == expected
    assert {"duplicate", "near_duplicate", None} <= set(got)


def test_a_document_read_again_under_another_path_is_rejected_and_repeats_nothing():
    pair = ("Who signed the permit?", "Jonas Lindqvist")
    windows = [window("a", pair), window("b", ("When does it expire?", "May")), window("a", pair, path="/in/copy.pdf"),
               window("c", ("When does it expire?", "May"))]  # fmt: skip
    decided = decide(windows).within(0, 4)
    copy = decided[2].apply(windows[2])
    assert (copy.error.kind, copy.error.reason) == ("duplicate_document", "the same bytes as /in/a.pdf")
    assert [d.reason for d in copy.dropped] == ["duplicate_document"] and copy.qa == []
    assert 0 not in decided and 1 not in decided  # the first reading of a and its pair stay
    last = decided[3].apply(windows[3])
    assert (last.error.kind, [d.reason for d in last.dropped]) == ("no_pair_kept", ["duplicate"])


def near_copy_groups(documents: list[tuple[str, str]]) -> dict[str, str]:
    windows = [AnnotatedWindow(f"/in/{i}.pdf", doc_id, texts=[text], unit_last=True) for i, (doc_id, text) in enumerate(documents)]
    return decide(windows).groups()


def test_near_copy_groups_do_not_depend_on_order():
    base = " ".join(f"word{i}" for i in range(300))
    docs = [("c" * 64, base), ("a" * 64, base + " one more line at the end"), ("b" * 64, "something else entirely " * 20)]
    for order in (docs, docs[::-1]):
        assert near_copy_groups(order) == {"c" * 64: "a" * 64, "a" * 64: "a" * 64}  # b is its own group
    assert word_shingles("One two", 5) == {"one two"}


def test_a_near_copy_lands_in_the_split_of_its_original_and_repeated_pairs_are_dropped(tmp_path, sample_corpus):
    """An amended re-issue of a document (other bytes, nearly the same text) must not straddle the split."""
    report = next(p for p in sample_corpus if p.name == "report.pdf")
    copy = tmp_path / "report-reissued.pdf"
    with pymupdf.open(report) as doc:
        doc[0].insert_text((72, 40), "Re-issued with corrected typography", fontsize=8)
        doc.save(copy)
    sources = [str(p) for p in sample_corpus] + [str(copy)]
    units = UnitStore(tmp_path / "work", sources).units
    loaded = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig())(units)
    windows = []
    for w in loaded:
        a = extend(AnnotatedWindow, w, prompt_id="p", finish_reason="stop")
        a.qa = [QAPair("Which company published the report?", "Northwind Ferries"), QAPair("Which window is this?", f"{w.window} of {w.doc_id[:16]}")]
        windows.append(a)
    docs = {w.source_path: w.doc_id for w in windows}
    # a test fraction at which the document that is not the group's root (its smallest doc_id) would go
    # elsewhere on its own hash
    group, member = sorted([docs[str(report)], docs[str(copy)]])
    # (the copy's bytes carry a fresh file id each run, so its hash can fall close to the original's: search
    # finely enough that only a shared first 8 hex digits could leave no such fraction)
    fraction = next(f / 10**6 for f in range(1, 10**6) if split_of(group, f / 10**6) != split_of(member, f / 10**6))
    stats = assemble(tmp_path, sources, windows, test_fraction=fraction)
    rows = {split: load_fresh(tmp_path / "ds", split=split) for split in stats["examples_per_split"]}
    split_of_path = {path: split for split, ds in rows.items() for path in ds["source_path"]}
    assert split_of_path[str(copy)] == split_of_path[str(report)]
    assert stats["qa_dropped_by_reason"] == {"duplicate": 6}  # the publisher pair is kept once of 7 windows
    dropped = load_fresh(tmp_path / "ds", data_files="dropped/*.parquet", split="train")
    assert sorted(set(dropped["reason"])) == ["duplicate"] and len(dropped) == 6
