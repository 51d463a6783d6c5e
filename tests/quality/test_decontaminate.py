"""Keeping eval sets out: the index and its cache, pages of real PDFs planted in an eval set and removed,
pairs asking an eval question about a look-alike page, and eval sets that cannot be read. Real PyMuPDF,
real Parquet and `datasets` folders, the real load stage. The model is replaced: by hand-written
completions (the parse stage is given GeneratedWindows directly), and in the whole run through the
command line by the stand-in server of tests/fakes (generation is not what is tested)."""

import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from docqa.config import (
    DecontaminateConfig,
    FilterConfig,
    InputConfig,
    LimitsConfig,
    RenderConfig,
    TextConfig,
    load_config,
)
from docqa.generate.prompts import load_template
from docqa.ingest.load import LoadDocuments, render_page, render_zoom
from docqa.output.card import eval_sets_removed
from docqa.output.stats import Stats
from docqa.quality.annotate import ParseQA
from docqa.quality.decontaminate import EvalSets, RemoveEvalPages
from docqa.quality.eval_sets import EvalSetError
from docqa.records import AnnotatedWindow, GeneratedWindow, SourceDocument, extend, from_table
from docqa.runtime.local import run_local
from docqa.runtime.plan import StagePlan
from tests.conftest import ROOT
from tests.fakes.completions_server import StandInModel

TEMPLATE = "docmatix-qa-completion-v1"


def page_images(pdf, pages=None):
    """Page images as a run renders them (the load stage's render settings)."""
    import pymupdf

    render = RenderConfig()
    with pymupdf.open(pdf) as doc:
        return [
            render_page(doc[n], render_zoom(doc[n], render.dpi, render.max_side_px, 40), render)
            for n in (pages if pages is not None else range(doc.page_count))
        ]


def as_eval_image(png, seed):
    """Re-encoded as JPEG, shrunk, cropped 2-5 % on each side and rotated a degree, as an eval set may hold it."""
    rng = random.Random(seed)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = image.size
    left, top, right, bottom = (rng.uniform(0.02, 0.05) for _ in range(4))
    image = image.crop((round(left * w), round(top * h), round(w - right * w), round(h - bottom * h)))
    image = image.rotate(1, resample=Image.BILINEAR, fillcolor="white").resize((w * 2 // 3, h * 2 // 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


def write_eval_set(path, rows):
    """A Parquet file in the Hub's layout: `image` as {bytes, path}, `question` a string."""
    table = pa.Table.from_pylist([{"image": {"bytes": image, "path": None}, "question": q} for image, q in rows])
    pq.write_table(table, path)
    return str(path)


def config(tmp_path, *eval_sets, **fields):
    return DecontaminateConfig(eval_sets=list(eval_sets), index_dir=str(tmp_path / "index"), **fields)


@pytest.fixture(scope="module")
def sample_pages(sample_corpus):
    return {p.name: page_images(p) for p in sample_corpus}


def test_index_is_built_once_and_found_again_by_content(tmp_path, sample_pages, capsys):
    invoice, form = sample_pages["invoice.pdf"][0], sample_pages["form.pdf"][0]
    rows = [(as_eval_image(invoice, 0), "What is the total?"), (as_eval_image(form, 1), "Who applies?")]
    rows.append((rows[0][0], "What is the invoice number?"))  # the same image asked again, as DocVQA does
    path = write_eval_set(tmp_path / "eval.parquet", rows)
    first = EvalSets(config(tmp_path, path))
    assert "3 rows, 2 distinct images indexed" in capsys.readouterr().out
    (index_file,) = (tmp_path / "index").iterdir()

    again = EvalSets(config(tmp_path, path))
    assert again.index_files == first.index_files and capsys.readouterr().out == ""  # a cache hit: nothing built
    again.load()
    assert again.rows == [0, 1]
    assert again.item_questions == [["What is the total?", "What is the invoice number?"], ["Who applies?"]]

    by_pattern = EvalSets(config(tmp_path, str(tmp_path / "eval*.parquet")))  # a glob: one split of a folder
    assert [path for _, path in by_pattern.index_files] == [path for _, path in first.index_files]

    write_eval_set(tmp_path / "eval.parquet", rows[:2])  # other bytes at the same path: another index
    changed = EvalSets(config(tmp_path, path))
    assert changed.index_files != first.index_files and len(list((tmp_path / "index").iterdir())) == 2
    assert index_file.exists()


def test_docmatix_layout_saved_by_datasets_is_read(tmp_path, sample_pages):
    """A `datasets.save_to_disk` folder (Arrow files) with Docmatix's columns: a list of images, a list of texts."""
    features = datasets.Features(
        {"images": datasets.List(datasets.Image()), "texts": datasets.List({"user": datasets.Value("string"), "assistant": datasets.Value("string")})}
    )
    pages = sample_pages["report.pdf"][:2]
    data = {"images": [[Image.open(io.BytesIO(p)) for p in pages]], "texts": [[{"user": "Who chairs the board?", "assistant": "M. H."}]]}
    datasets.Dataset.from_dict(data, features=features).save_to_disk(tmp_path / "docmatix")
    eval_sets = EvalSets(config(tmp_path, str(tmp_path / "docmatix")))
    eval_sets.load()
    assert eval_sets.rows == [0, 0] and eval_sets.item_questions == [["Who chairs the board?"]] * 2


@pytest.fixture(scope="module")
def pdfs(shared_corpus):
    """Three real PDFs (a form, a report, a table) through the load stage and the page check, in the local runner."""
    return [shared_corpus / "normal" / name for name in ("pdfjs__prefilled_f1040.pdf", "pdfplumber__federal-register-2020-17221.pdf", "camelot__twotables.pdf")]


def run_page_check(tmp_path, pdfs, eval_set):
    load = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(ocr=False), LimitsConfig())
    plan = StagePlan([load, RemoveEvalPages(EvalSets(config(tmp_path, eval_set)))])
    tables = run_local(plan, [SourceDocument(str(p)) for p in pdfs])
    return [window for table in tables for window in from_table(RemoveEvalPages.output_type, table)]


def test_planted_eval_pages_are_removed_and_reported(tmp_path, pdfs, shared_corpus):
    form, report, table = pdfs
    planted = page_images(report, [1])[0]
    unrelated = page_images(shared_corpus / "normal" / "pdfplumber__ca-warn-report.pdf", [0, 1])
    eval_set = write_eval_set(
        tmp_path / "eval.parquet", [(as_eval_image(p, i), f"Question {i}?") for i, p in enumerate([*unrelated, planted])]
    )
    windows = run_page_check(tmp_path, pdfs, eval_set)

    rejected = [w for w in windows if w.error]
    assert [w.source_path for w in rejected] == [str(report)]
    assert rejected[0].pages[0] == 0  # the whole first window of the report goes, page 2 being the eval image
    assert (rejected[0].error.kind, rejected[0].error.about) == ("eval_page", eval_set)
    assert str(rejected[0].error).startswith(f"decontaminate: page 2 of the document is row 2 of eval set {eval_set} (pHash")
    kept = {(w.source_path, w.window) for w in windows if not w.error}
    assert kept == {(str(form), 0), (str(table), 0)} | {(str(report), n) for n in (1, 2, 3)}  # the rest of it stays

    stats = Stats()
    for window in windows:
        stats.add(extend(AnnotatedWindow, window))
    removed = stats.quality()["removed_as_contaminated"]
    assert removed == {eval_set: {"windows_removed": 1, "pages_removed": len(rejected[0].pages), "pairs_removed": 0}}
    card = eval_sets_removed(load_config(None, [f"decontaminate.eval_sets=[{eval_set}]"]), removed)
    assert f"`{eval_set}`: 1 windows ({len(rejected[0].pages)} pages), 0 QA pairs" in card


def test_nothing_is_removed_when_no_eval_page_is_in_the_run(tmp_path, pdfs, shared_corpus):
    others = [shared_corpus / "normal" / name for name in ("pdfplumber__ca-warn-report.pdf", "pdfjs__tracemonkey.pdf")]
    images = [image for pdf in others for image in page_images(pdf, [0, 1])]
    eval_set = write_eval_set(tmp_path / "eval.parquet", [(as_eval_image(p, i), "What is shown?") for i, p in enumerate(images)])
    windows = run_page_check(tmp_path, pdfs, eval_set)
    assert windows and [w.error for w in windows] == [None] * len(windows)


def generated(image, *questions):
    completion = json.dumps({"pairs": [{"question": q, "answer": "EUR 2,774.04"} for q in questions]})
    return GeneratedWindow(
        "invoice.pdf", "id", 1, 0, [0], images=[image], texts=["Total due: EUR 2,774.04"], prompt_id=TEMPLATE,
        completion=completion, finish_reason="stop", output_tokens=9,
    )


def test_a_pair_is_dropped_only_for_an_eval_question_about_a_look_alike_page(tmp_path, sample_pages):
    invoice, article = sample_pages["invoice.pdf"][0], sample_pages["article.pdf"][0]
    eval_set = write_eval_set(tmp_path / "eval.parquet", [(as_eval_image(invoice, 0), "What is the total amount due?")])
    eval_sets = EvalSets(config(tmp_path, eval_set))
    parse = ParseQA(FilterConfig(), [load_template(ROOT / "prompts", TEMPLATE)], eval_sets=eval_sets)

    asked = ("What is the total amount due?", "What total amount is due?", "How much is the total amount due?")
    (on_invoice,) = parse([generated(invoice, *asked)])
    assert [p.question for p in on_invoice.qa] == ["What total amount is due?"]  # other words, other n-grams
    assert [(d.reason, d.about) for d in on_invoice.dropped] == [("contaminated", eval_set)] * 2
    assert all(d.detail.startswith(f"asks the question of row 0 of eval set {eval_set}") for d in on_invoice.dropped)

    (on_article,) = parse([generated(article, *asked)])  # the same question about an unrelated page: kept
    assert on_article.error is None and len(on_article.qa) == 3

    stats = Stats()
    stats.add(on_invoice)
    assert stats.qa_dropped == {"contaminated": 2}  # one reason, whichever eval rows were asked
    assert stats.quality()["removed_as_contaminated"][eval_set]["pairs_removed"] == 2


def test_eval_sets_that_cannot_be_read_are_named(tmp_path, sample_pages):
    image = as_eval_image(sample_pages["invoice.pdf"][0], 0)
    pq.write_table(pa.table({"picture_id": [1], "question": ["Why?"]}), tmp_path / "no-images.parquet")
    pq.write_table(pa.table({"image": [image], "answer": ["42"]}), tmp_path / "no-questions.parquet")
    pq.write_table(pa.Table.from_pylist([{"image": {"bytes": None, "path": "img/1.png"}, "query": "Why?"}]), tmp_path / "paths.parquet")
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    cases = {
        "/nope.parquet": "eval set /nope.parquet: no such file or folder",
        str(tmp_path / "no-images.parquet"): "no single column of images",
        str(tmp_path / "no-questions.parquet"): "no column of questions",
        str(tmp_path / "paths.parquet"): "row 0 refers to image 'img/1.png' instead of holding its bytes",
        str(tmp_path / "empty"): "not a .parquet or .arrow file, nor a folder holding any",
        str(tmp_path / "notes.txt"): "not a .parquet or .arrow file",
        str(tmp_path / "test-*.parquet"): "no .parquet or .arrow file matches",
    }
    for path, message in cases.items():
        with pytest.raises(EvalSetError, match=message.replace(".", r"\.").replace("(", r"\(")):
            EvalSets(config(tmp_path, path))


def test_a_missing_eval_set_stops_the_run_with_one_line_before_any_work(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "docqa", "dataset", "--output", str(tmp_path / "ds"), "--set",
         "decontaminate.eval_sets=[/nope.parquet]", "--set", f"input.sample_dir={tmp_path / 'samples'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: eval set /nope.parquet: no such file or folder"]
    assert list(tmp_path.iterdir()) == []  # no sample corpus written, no output folder


@pytest.mark.integration  # the command line, its load workers and a stand-in server: about a minute
def test_a_run_rejects_a_planted_page_and_reports_it_in_stats_and_card(tmp_path, sample_corpus, sample_pages, embedded_model):
    eval_set = write_eval_set(tmp_path / "eval.parquet", [(as_eval_image(sample_pages["invoice.pdf"][0], 0), "What is due?")])
    out = tmp_path / "ds"
    with StandInModel(Path(embedded_model) / "tokenizer.json") as model:
        overrides = [
            "run.runner=local",
            f"model.endpoint={model.url}",
            f"model.cache_dir={os.path.dirname(embedded_model)}",
            "prompt.templates=[docmatix-qa-completion-v1]",
            "output.cache_dir=null",
            f"decontaminate.eval_sets=[{eval_set}]",
            f"decontaminate.index_dir={tmp_path / 'index'}",
        ]
        command = [sys.executable, "-m", "docqa", "dataset", "--input", str(sample_corpus[0].parent), "--output", str(out)]
        done = subprocess.run(
            command + [arg for o in overrides for arg in ("--set", o)],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]

    rejects = pq.read_table(out / "rejects" / "rejects-00000.parquet").to_pylist()
    planted = [r for r in rejects if r["stage"] == "decontaminate"]
    assert [Path(r["source_path"]).name for r in planted] == ["invoice.pdf"]
    assert planted[0]["reason"].startswith(f"page 1 of the document is row 0 of eval set {eval_set} (pHash distance")
    assert (planted[0]["kind"], planted[0]["about"]) == ("eval_page", eval_set)
    rows = pq.read_table(out / "data" / "train-00000-of-00001.parquet", columns=["source_path"]).to_pylist()
    assert rows and "invoice.pdf" not in {Path(r["source_path"]).name for r in rows}
    stats = json.loads((out / "stats.json").read_text())
    removed = {"windows_removed": 1, "pages_removed": 1, "pairs_removed": 0}
    assert stats["quality"]["removed_as_contaminated"] == {eval_set: removed}
    assert f"`{eval_set}`: 1 windows (1 pages), 0 QA pairs" in (out / "README.md").read_text()
