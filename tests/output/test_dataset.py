"""The dataset writer: real page images from the load stage, real pyarrow, read back with real `datasets`."""

import dataclasses
import json

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

from docqa.config import InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.ingest.load import LoadDocuments
from docqa.output.card import card_header
from docqa.output.schema import RunInfo
from docqa.output.shards import split_of
from docqa.output.stats import Stats
from docqa.output.writer import DatasetWriter
from docqa.records import AnnotatedWindow, QAPair, SourceDocument, extend
from tests.conftest import load_fresh


@pytest.fixture(scope="module")
def windows(sample_corpus, tmp_path_factory):
    bad = tmp_path_factory.mktemp("bad") / "not-a-pdf.pdf"
    bad.write_text("hello")
    sources = [str(p) for p in sample_corpus] + [str(bad)]
    loaded = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig())([SourceDocument(s) for s in sources])
    annotated = []
    for w in loaded:
        a = extend(AnnotatedWindow, w, prompt_id="p-v1", prompt_sha256="abc", prompt_token_ids=[2, 5, 7], model="m")
        if w.error is None:
            name = w.source_path.rsplit("/", 1)[-1]
            a.qa = [QAPair(f"How many pages does window {w.window} of {name} have?", str(len(w.pages)))]
            a.finish_reason = "stop"
        annotated.append(a)
    return sources, annotated


def write(out, sources, windows, **kwargs):
    writer = DatasetWriter(out, RunInfo(0.2, 0.95, 256, 0), kwargs.get("shard_max_rows", 100), 2, kwargs.get("test_fraction", 0))
    writer.add(windows)
    return writer.close(sources, "model: {}\n", lambda stats: card_header(stats["examples_per_split"], "other"), {})


def test_load_dataset_reads_images_texts_and_provenance(tmp_path, windows):
    sources, annotated = windows
    stats = write(tmp_path / "ds", sources, annotated)
    ds = load_fresh(tmp_path / "ds", split="train")
    assert isinstance(ds.features["images"].feature, datasets.Image)
    assert len(ds) == stats["examples"] == 5  # report: 2 windows; article, form, invoice: 1 each
    row = next(r for r in ds if r["source_path"].endswith("report.pdf") and r["pages"] == [4, 5])
    assert [im.size for im in row["images"]] == [(1240, 1755)] * 2
    assert row["texts"] == [{"user": "How many pages does window 1 of report.pdf have?", "assistant": "2", "source": "report.pdf p. 5-6", "origin": "llm"}]
    assert (row["page_count"], row["prompt_id"], row["temperature"], row["max_tokens"]) == (6, "p-v1", 0.2, 256)
    assert row["prompt_tokens"] == 3 and len(row["doc_id"]) == 64
    assert ds["language"] == ["en"] * 5  # the sample corpus is written in English
    assert stats["pages_rendered"] == stats["texts_extracted"] == stats["pages"] and stats["pages_ocr"] == 0


def test_rows_and_stats_name_what_wrote_each_pair(tmp_path, windows):
    _, annotated = windows
    invoice = next(a for a in annotated if a.source_path.endswith("invoice.pdf"))
    stats = write(tmp_path / "ds", [invoice.source_path], [dataclasses.replace(invoice, qa=invoice.qa + invoice.structure_pairs)])
    (row,) = load_fresh(tmp_path / "ds", split="train")
    origins = [t["origin"] for t in row["texts"]]
    assert origins[0] == "llm" and set(origins[1:]) == {"table", "key_value"}
    total = row["texts"].index(next(t for t in row["texts"] if t["user"] == "What is the Total due?"))
    assert row["texts"][total]["assistant"] == "EUR 2,774.04"
    (x0, y0, x1, y1), = row["grounding"][total]["boxes"]  # on the right, just below the middle of the page
    width, height = row["images"][0].size
    assert width / 2 < x0 < x1 <= width and height / 2 < y0 < y1 < 2 * height / 3
    assert stats["qa_kept_by_origin"] == {"table": 15, "key_value": 7, "llm": 1}
    assert stats["quality"]["qa_per_page_by_origin"]["table"] == 15.0


def test_stats_count_pages_read_afresh_apart_from_cached_ones():
    window = AnnotatedWindow("scan.pdf", "d" * 64, 3, pages=[0, 1, 2], images=[b"png"] * 3, text_sources=["layer", "ocr", "ocr"])
    stats = Stats()
    stats.add(window)
    stats.add(dataclasses.replace(window, from_cache=True))
    assert (stats.pages_rendered, stats.texts_extracted, stats.pages_ocr, stats.pages_from_cache) == (3, 3, 2, 3)


def test_every_input_is_in_the_dataset_or_the_rejects(tmp_path, windows):
    sources, annotated = windows
    stats = write(tmp_path / "ds", sources, annotated)
    rejects = pq.read_table(tmp_path / "ds" / "rejects" / "rejects-00000.parquet").to_pylist()
    assert [(r["source_path"].rsplit("/", 1)[-1], r["stage"], r["kind"], r["reason"]) for r in rejects] == [
        ("not-a-pdf.pdf", "load", "not_a_pdf", "not a PDF (no %PDF header)")
    ]
    assert (stats["inputs"], stats["documents"], stats["documents_in_dataset"], stats["documents_rejected"]) == (5, 5, 4, 1)
    written = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert (written["rejects_by_stage"], written["rejects_by_kind"]) == ({"load": 1}, {"not_a_pdf": 1})


def test_an_input_that_produced_nothing_is_still_accounted_for(tmp_path, windows):
    sources, annotated = windows
    write(tmp_path / "ds", sources + ["/lost/doc.pdf"], annotated)
    rejects = pq.read_table(tmp_path / "ds" / "rejects" / "rejects-00000.parquet").to_pylist()
    lost = {
        "doc_id": "",
        "source_path": "/lost/doc.pdf",
        "pages": [],
        "stage": "pipeline",
        "kind": "input_lost",
        "reason": "input produced no output",
        "about": "",
    }
    assert lost in rejects


def test_shards_are_named_for_the_hub_and_the_card_declares_them(tmp_path, windows):
    sources, annotated = windows
    write(tmp_path / "ds", sources, annotated, shard_max_rows=2)
    names = sorted(p.name for p in (tmp_path / "ds" / "data").iterdir())
    assert names == ["train-00000-of-00003.parquet", "train-00001-of-00003.parquet", "train-00002-of-00003.parquet"]
    assert pq.ParquetFile(tmp_path / "ds" / "data" / names[0]).metadata.num_row_groups == 1
    assert len(load_fresh(tmp_path / "ds", split="train")) == 5


def test_a_failed_run_leaves_the_previous_dataset_in_place(tmp_path, windows):
    sources, annotated = windows
    write(tmp_path / "ds", sources, annotated)
    writer = DatasetWriter(tmp_path / "ds", RunInfo(0.2, 0.95, 256, 0), 100, 2, 0)
    writer.add(annotated[:1])  # ...and the run dies before close()
    assert len(load_fresh(tmp_path / "ds", split="train")) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ds.partial", "ds"]
    write(tmp_path / "ds", sources, annotated[:2])  # the next run clears the leftover and publishes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert len(load_fresh(tmp_path / "ds", split="train")) == 2


def test_card_yaml_is_what_datasets_expects(tmp_path, windows, default_config):
    from docqa.generate.prompts import load_templates
    from docqa.output.card import dataset_card

    templates = load_templates(default_config.prompt.directory, default_config.prompt.templates)
    card = dataset_card(default_config, templates, "some/model", {"examples_per_split": {"train": 5}, "qa_kept": 9})
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"}]
    info = datasets.DatasetInfo._from_yaml_dict(header["dataset_info"])
    assert isinstance(info.features["images"].feature, datasets.Image)
    assert info.splits["train"].num_examples == 5
    assert all(t.sha256 in card for t in templates) and len(templates) == 5 and "some/model" in card


def test_the_card_names_the_languages_for_the_hub_and_for_people(default_config):
    from docqa.output.card import dataset_card

    quality = {"examples_per_language": {"fr": 3, "en": 2, "und": 1}}
    card = dataset_card(default_config, [], "m", {"examples_per_split": {"train": 6}, "quality": quality})
    assert yaml.safe_load(card.split("---\n")[1])["language"] == ["fr", "en"]  # the Hub's language tags
    assert "French (`fr`) 3, English (`en`) 2, undetermined (too little text to tell) 1" in card


def test_test_split_is_document_disjoint_and_declared_in_the_card(tmp_path, windows):
    sources, annotated = windows
    test_doc = next(w.doc_id for w in annotated if w.doc_id and split_of(w.doc_id, 0.5) == "test")
    stats = write(tmp_path / "ds", sources, annotated, test_fraction=0.5)
    train = load_fresh(tmp_path / "ds", split="train")
    test = load_fresh(tmp_path / "ds", split="test")
    assert test_doc in test["doc_id"]
    assert not set(train["doc_id"]) & set(test["doc_id"])
    assert stats["examples_per_split"] == {"train": len(train), "test": len(test)}
    assert len(train) + len(test) == 5


def test_row_ids_are_stable_and_unique(tmp_path, windows):
    sources, annotated = windows
    write(tmp_path / "a", sources, annotated)
    write(tmp_path / "b", sources, list(reversed(annotated)))
    ids_a = load_fresh(tmp_path / "a", split="train")["id"]
    ids_b = load_fresh(tmp_path / "b", split="train")["id"]
    assert len(set(ids_a)) == 5 and set(ids_a) == set(ids_b)


def test_quality_report_in_stats_and_plots(tmp_path, windows):
    from PIL import Image

    from docqa.output.report import PLOTS

    sources, annotated = windows
    stats = write(tmp_path / "ds", sources, annotated)
    quality = json.loads((tmp_path / "ds" / "stats.json").read_text())["quality"]
    assert quality == stats["quality"]
    assert quality["qa_per_page"] == round(stats["qa_kept"] / stats["pages"], 3)
    assert sum(quality["answer_tokens_histogram"].values()) == stats["qa_kept"] == 5
    assert quality["examples_per_language"] == {"en": 5}
    for name in PLOTS:
        with Image.open(tmp_path / "ds" / "report" / name) as plot:
            assert plot.format == "PNG" and plot.width == 720
    ds = load_fresh(tmp_path / "ds", split="train")
    assert all(len(g) == len(t) for g, t in zip(ds["grounding"], ds["texts"]))


def test_shards_and_row_groups_are_bounded_in_bytes(tmp_path, windows):
    """Hub conventions: ~500 MB shards and row groups the viewer can read; here scaled down to the sample."""
    from docqa.output.schema import dataset_row
    from docqa.output.shards import row_bytes

    sources, annotated = windows
    sizes = [row_bytes(dataset_row(w, RunInfo(0, 1, 1, 0), w.source_path)) for w in annotated if w.error is None]
    limit_mb = 2.2 * max(sizes) / 1e6
    writer = DatasetWriter(tmp_path / "ds", RunInfo(0, 1, 1, 0), 100, 100, 0, shard_max_mb=limit_mb, row_group_mb=limit_mb / 2)
    writer.add(annotated)
    writer.close(sources, "", lambda stats: "", {})
    shards = sorted((tmp_path / "ds" / "data").glob("train-*.parquet"))
    assert len(shards) > 1 and sum(pq.ParquetFile(s).metadata.num_rows for s in shards) == len(sizes)
    for shard in shards:
        groups = pq.ParquetFile(shard).metadata
        assert groups.num_rows == 1 or shard.stat().st_size < limit_mb * 1e6
        assert all(groups.row_group(i).num_rows == 1 or groups.row_group(i).total_byte_size < limit_mb / 2 * 1e6
                   for i in range(groups.num_row_groups))


def test_a_dataset_uploaded_to_an_fsspec_url_loads_from_there(tmp_path, windows):
    # memory:// stands in for an object store (s3://, gs://): the same fsspec calls, no network.
    import fsspec

    from docqa.run import upload

    sources, annotated = windows
    write(tmp_path / "earlier", sources, annotated, shard_max_rows=2)  # three shards, where the new run has one
    upload(tmp_path / "earlier", "memory://bucket/datasets/ds")
    write(tmp_path / "ds", sources, annotated)
    remote = fsspec.filesystem("memory")
    upload(tmp_path / "ds", "memory://bucket/datasets/ds")
    local = sorted(p.relative_to(tmp_path / "ds").as_posix() for p in (tmp_path / "ds").rglob("*") if p.is_file())
    assert sorted(p.removeprefix("/bucket/datasets/ds/") for p in remote.find("/bucket/datasets/ds")) == local
    copy = tmp_path / "downloaded"
    remote.get("/bucket/datasets/ds/", str(copy), recursive=True)
    assert len(load_fresh(copy, split="train")) == 5


def test_an_output_url_that_cannot_be_opened_stops_the_run_before_any_work(sample_corpus, tmp_path):
    import importlib.util
    import subprocess
    import sys

    from tests.conftest import ROOT

    if importlib.util.find_spec("s3fs"):
        pytest.skip("s3fs is installed here: s3:// opens")
    command = [sys.executable, "-m", "docqa", "dataset", "--input", str(sample_corpus[0]), "--output", "s3://bucket/docqa",
               "--set", f"output.staging_dir={tmp_path / 'staging'}", "--set", f"output.cache_dir={tmp_path / 'cache'}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "s3fs" in done.stderr  # the package to install, in one line
    assert not (tmp_path / "staging").exists() and not (tmp_path / "cache").exists()
