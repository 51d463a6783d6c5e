"""The dataset assembled from committed work units in parts: real PDFs from the load stage, real Parquet, read
back with real `datasets`; the local assembler, the one `run.runner=local` uses (Ray's: tests/integration)."""

import shutil

import pyarrow.parquet as pq
import pytest

from docqa.config import InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.ingest.load import LoadDocuments
from docqa.output.assembly import write_dataset_parts
from docqa.output.schema import RunInfo
from docqa.output.writer import WriteSettings, finish_dataset
from docqa.records import AnnotatedWindow, QAPair, Receipt, extend, to_table
from docqa.runtime.local import LocalAssembler
from docqa.runtime.units import UnitStore, WriteParts
from tests.conftest import load_fresh


def assemble(tmp_path, sources, windows, assembler=None, out="ds", store=None, **write):
    """Commit `windows` as the units of `sources` (unless `store` holds them already) and assemble the
    dataset `tmp_path / out` from them; returns its statistics."""
    store = store or UnitStore(tmp_path / "work", sources)
    commit(store, windows)
    settings = WriteSettings(RunInfo(0, 1, 1, 0), write.pop("shard_max_rows", 100), write.pop("row_group_rows", 10),
                             write.pop("test_fraction", 0), **write)  # fmt: skip
    staging, parts = write_dataset_parts(
        assembler or LocalAssembler(), tmp_path / "work", store.committed(), tmp_path / out, settings, 0.8, 0.7
    )
    return finish_dataset(staging, tmp_path / out, parts, len(sources), "", lambda stats: "", lambda stats: {})


def commit(store, windows):
    """What a run does with finished windows: a worker writes them to part files, the driver commits units
    from the receipts."""
    store.add(to_table(Receipt, WriteParts(store.work_dir, batch_size=64)(list(windows))))


def written(folder):
    """The rows (without images) in the order of the shards' names, the dropped pairs, the rejects."""
    rows = [
        (shard.name.split("-")[0], row)
        for shard in sorted((folder / "data").glob("*.parquet"))
        for row in pq.read_table(shard).drop_columns(["images"]).to_pylist()
    ]
    dropped = [row for f in sorted((folder / "dropped").glob("*.parquet")) for row in pq.read_table(f).to_pylist()]
    rejects = [row for f in sorted((folder / "rejects").glob("*.parquet")) for row in pq.read_table(f).to_pylist()]
    return rows, dropped, rejects


@pytest.fixture(scope="module")
def corpus(sample_corpus, tmp_path_factory):
    """The sample PDFs, a byte copy of the invoice under another name and a file that is not a PDF; each
    window asks how many pages it has, and one question every document answers alike."""
    folder = tmp_path_factory.mktemp("inputs")
    paths = [shutil.copy(p, folder / p.name) for p in sample_corpus]
    paths.append(shutil.copy(folder / "invoice.pdf", folder / "invoice-copy.pdf"))
    (folder / "notes.pdf").write_text("meeting notes, not a PDF")
    sources = [str(folder / "notes.pdf")] + [str(p) for p in paths]
    units = UnitStore(tmp_path_factory.mktemp("work"), sources).units  # named as every test's store names them
    loaded = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig())(units)
    windows = []
    for w in loaded:
        a = extend(AnnotatedWindow, w, prompt_id="p-v1", model="m", finish_reason="stop")
        if w.error is None:
            name = w.source_path.rsplit("/", 1)[-1]
            a.qa = [QAPair(f"How many pages does window {w.window} of {name} have?", f"{len(w.pages)} pages in {name}"),
                    QAPair("Who is the sample corpus for?", "The docqa tests")]  # fmt: skip
        windows.append(a)
    return sources, windows


def test_parts_written_side_by_side_make_one_dataset_in_input_order(tmp_path, corpus):
    sources, windows = corpus
    whole = assemble(tmp_path, sources, windows, out="one")
    three = LocalAssembler()
    three.parts = 3
    parted = assemble(tmp_path, sources, windows, three, out="three")
    assert written(tmp_path / "three") == written(tmp_path / "one")
    assert {k: v for k, v in parted.items() if k != "shards"} == {k: v for k, v in whole.items() if k != "shards"}
    assert sorted(p.name for p in (tmp_path / "three" / "data").iterdir()) == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
    assert sorted(p.name for p in (tmp_path / "three" / "rejects").iterdir()) == ["rejects-00000.parquet", "rejects-00001.parquet"]
    assert len(load_fresh(tmp_path / "three", split="train")) == parted["examples"] == 5
    # every input once: 4 documents in the dataset, the copy and the file that is not a PDF rejected
    rows, dropped, rejects = written(tmp_path / "three")
    assert sorted((r["source_path"].rsplit("/", 1)[-1], r["kind"]) for r in rejects) == [
        ("invoice-copy.pdf", "duplicate_document"), ("notes.pdf", "not_a_pdf")
    ]  # fmt: skip
    assert (parted["inputs"], parted["documents_in_dataset"], parted["documents_rejected"]) == (6, 4, 2)
    # the shared question is kept with the first document only; the copy's pairs are dropped with it
    assert sorted(r["reason"] for r in dropped) == ["duplicate"] * 4 + ["duplicate_document"] * 2
    assert [len(row["texts"]) for _, row in rows] == [2, 1, 1, 1, 1]


def test_shards_of_parts_stay_within_the_byte_bound(tmp_path, corpus):
    from docqa.output.schema import dataset_row
    from docqa.output.shards import row_bytes

    sources, windows = corpus
    sizes = [row_bytes(dataset_row(w, RunInfo(0, 1, 1, 0), w.source_path)) for w in windows if w.error is None]
    limit_mb = 1.5 * max(sizes) / 1e6
    two = LocalAssembler()
    two.parts = 2
    stats = assemble(tmp_path, sources, windows, two, shard_max_mb=limit_mb, row_group_mb=limit_mb / 2)
    shards = sorted((tmp_path / "ds" / "data").glob("train-*.parquet"))
    assert [s.name for s in shards] == [f"train-{i:05d}-of-{len(shards):05d}.parquet" for i in range(len(shards))]
    assert len(shards) == stats["shards"] > 2 and sum(pq.ParquetFile(s).metadata.num_rows for s in shards) == 5
    assert all(pq.ParquetFile(s).metadata.num_rows == 1 or s.stat().st_size < limit_mb * 1e6 for s in shards)


def test_a_resumed_run_assembles_the_rows_of_an_uninterrupted_one(tmp_path, corpus):
    sources, windows = corpus
    assemble(tmp_path / "straight", sources, windows)
    first = UnitStore(tmp_path / "resumed" / "work", sources)
    commit(first, windows[::2])  # ...and the run is killed; the next one redoes the units left, in another order
    again = UnitStore(tmp_path / "resumed" / "work", sources)
    assert 0 < len(again.pending()) < len(sources)
    assemble(tmp_path / "resumed", sources, windows[::-1], store=again)
    assert written(tmp_path / "resumed" / "ds") == written(tmp_path / "straight" / "ds")
