"""Duplicate QA pairs across the dataset and near-copy documents kept in one split."""

import random

import pymupdf
import pytest

from docqa.config import InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.ingest.load import LoadDocuments
from docqa.output.schema import RunInfo
from docqa.output.shards import split_of
from docqa.output.writer import DatasetWriter
from docqa.quality.dedup import DatasetDeduplicator, PairDeduplicator, minhash, near_copy_groups, word_shingles
from docqa.records import AnnotatedWindow, QAPair, SourceDocument, extend
from tests.conftest import load_fresh


def test_minhash_estimates_jaccard_similarity():
    rng = random.Random(0)
    words = [f"w{i}" for i in range(400)]
    for shared in (0.2, 0.5, 0.8):
        a = set(rng.sample(words, 100))
        b = set(rng.sample(sorted(a), int(100 * shared))) | set(rng.sample(sorted(set(words) - a), 100 - int(100 * shared)))
        estimate = (minhash(a) == minhash(b)).mean()
        assert estimate == pytest.approx(len(a & b) / len(a | b), abs=0.15)


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
def test_pair_deduplicator(first, second, verdict):
    dedup = PairDeduplicator(0.8)
    assert dedup.check(*first) is None
    assert dedup.check(*second) == verdict


def test_near_copy_groups_do_not_depend_on_order():
    base = " ".join(f"word{i}" for i in range(300))
    docs = [("c" * 64, base), ("a" * 64, base + " one more line at the end"), ("b" * 64, "something else entirely " * 20)]
    for order in (docs, docs[::-1]):
        groups = near_copy_groups(order, 0.7)
        assert groups == {"c" * 64: "a" * 64, "a" * 64: "a" * 64, "b" * 64: "b" * 64}
    assert word_shingles("One two", 5) == {"one two"}


def test_a_near_copy_lands_in_the_split_of_its_original_and_repeated_pairs_are_dropped(tmp_path, sample_corpus):
    """An amended re-issue of a document (other bytes, nearly the same text) must not straddle the split."""
    report = next(p for p in sample_corpus if p.name == "report.pdf")
    copy = tmp_path / "report-reissued.pdf"
    with pymupdf.open(report) as doc:
        doc[0].insert_text((72, 40), "Re-issued with corrected typography", fontsize=8)
        doc.save(copy)
    sources = [str(p) for p in sample_corpus] + [str(copy)]
    loaded = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig())([SourceDocument(s) for s in sources])
    windows = []
    for w in loaded:
        a = extend(AnnotatedWindow, w, prompt_id="p", finish_reason="stop")
        a.qa = [QAPair("Which company published the report?", "Northwind Ferries"), QAPair("Which window is this?", f"{w.window} of {w.doc_id[:16]}")]
        windows.append(a)
    docs = {w.source_path: w.doc_id for w in windows}
    groups = near_copy_groups(((w.doc_id, "\n".join(w.texts)) for w in windows), 0.7)
    assert groups[docs[str(copy)]] == groups[docs[str(report)]]
    assert len(set(groups.values())) == 4
    # a test fraction at which the member that is not the group's root would go elsewhere on its own hash
    group = groups[docs[str(report)]]
    member = ({docs[str(report)], docs[str(copy)]} - {group}).pop()
    # (the copy's bytes carry a fresh file id each run, so its hash can fall close to the original's: search
    # finely enough that only a shared first 8 hex digits could leave no such fraction)
    fraction = next(f / 10**6 for f in range(1, 10**6) if split_of(group, f / 10**6) != split_of(member, f / 10**6))
    writer = DatasetWriter(tmp_path / "ds", RunInfo(0, 1, 1, 0), 100, 10, fraction, groups)
    deduplicator = DatasetDeduplicator(0.8)
    writer.add([deduplicator.apply(w) for w in windows])
    stats = writer.close(sources, "", lambda stats: "", {})
    rows = {split: load_fresh(tmp_path / "ds", split=split) for split in stats["examples_per_split"]}
    split_of_path = {path: split for split, ds in rows.items() for path in ds["source_path"]}
    assert split_of_path[str(copy)] == split_of_path[str(report)]
    assert stats["qa_dropped_by_reason"] == {"duplicate": 6}  # the publisher pair is kept once of 7 windows
    dropped = load_fresh(tmp_path / "ds", data_files="dropped/*.parquet", split="train")
    assert sorted(set(dropped["reason"])) == ["duplicate"] and len(dropped) == 6
