"""Work units: atomic commits, discarded partial work, which settings invalidate committed units, and
which changes to an input make its committed rows stale. Real files, real Parquet."""

import os

import fsspec

from docqa.config import InputConfig, LimitsConfig, RenderConfig, TextConfig, load_config
from docqa.generate.prompts import load_template
from docqa.ingest.load import LoadDocuments
from docqa.records import AnnotatedWindow, SourceDocument, extend
from docqa.runtime.page_cache import PageCache
from docqa.runtime.units import UnitStore, run_key
from tests.conftest import ROOT


def pdfs(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"%PDF-1.7 " + name.encode())
    return [str(folder / name) for name in names]


def window(unit, index, last, member=""):
    path = f"{unit}::{member}" if member else unit
    return AnnotatedWindow(path, doc_id="d" * 64, window=index, unit=unit, unit_index=index, unit_last=last)


def test_a_unit_commits_once_its_last_record_and_every_one_before_it_arrived_in_any_order(tmp_path):
    a, b = pdfs(tmp_path, "a.pdf", "b.pdf")
    store = UnitStore(tmp_path / "work", [a, b])
    assert store.add([window(a, 2, True), window(b, 0, True)]) == 1  # Ray hands blocks over as they finish
    assert store.pending() == [a]
    assert store.add([window(a, 0, False), window(a, 0, False)]) == 0  # a retried task delivers a record again
    assert store.add([window(a, 1, False)]) == 1
    assert store.pending() == []
    assert [w.unit_index for w in store.read(a)] == [0, 1, 2]  # each once, in the order the unit produced them


def test_documents_of_a_shard_belong_to_the_shard(tmp_path):
    (shard,) = pdfs(tmp_path, "s.tar")
    store = UnitStore(tmp_path / "work", [shard])
    store.add([window(shard, 0, False, "2.pdf"), window(shard, 1, True, "1.pdf")])
    assert store.pending() == []
    assert [w.source_path for w in store.read(shard)] == [f"{shard}::2.pdf", f"{shard}::1.pdf"]  # shard order


def test_a_restart_keeps_committed_units_and_drops_partial_ones(tmp_path):
    a, b = pdfs(tmp_path, "a.pdf", "b.pdf")
    store = UnitStore(tmp_path / "work", [a, b])
    store.add([window(a, 0, True), window(b, 0, False)])  # ...and the process is killed here
    restarted = UnitStore(tmp_path / "work", [a, b])
    assert restarted.pending() == [b]
    assert list((tmp_path / "work" / "partial").iterdir()) == []
    restarted.add([window(b, i, i == 2) for i in range(3)])
    assert len(restarted.read(b)) == 3


def test_a_file_replaced_between_a_kill_and_the_resume_is_redone(tmp_path):
    longer, same_size, touched, kept = pdfs(tmp_path, "longer.pdf", "same.pdf", "touched.pdf", "kept.pdf")
    sources = [longer, same_size, touched, kept]
    store = UnitStore(tmp_path / "work", sources)
    store.add([window(s, 0, True) for s in sources])  # all committed, then the run is killed before publishing
    with open(longer, "ab") as f:
        f.write(b" and more")
    stat = os.stat(same_size)
    with open(same_size, "r+b") as f:
        f.write(b"%PDF-2.0")  # the same size, rewritten a second later
    os.utime(same_size, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    assert UnitStore(tmp_path / "work", sources).pending() == [longer, same_size, touched]


def test_a_remote_object_replaced_between_a_kill_and_the_resume_is_redone(tmp_path):
    fs = fsspec.filesystem("memory")
    fs.pipe({"/bucket/a.pdf": b"%PDF a", "/bucket/b.pdf": b"%PDF b"})
    sources = ["memory://bucket/a.pdf", "memory://bucket/b.pdf"]
    try:
        store = UnitStore(tmp_path / "work", sources)
        store.add([window(s, 0, True) for s in sources])
        fs.pipe("/bucket/b.pdf", b"%PDF b")  # the same bytes, uploaded again: a new object
        assert UnitStore(tmp_path / "work", sources).pending() == ["memory://bucket/b.pdf"]
    finally:
        fs.rm("/bucket", recursive=True)


def test_an_input_whose_identity_cannot_be_read_is_always_redone(tmp_path):
    missing = str(tmp_path / "gone.pdf")
    store = UnitStore(tmp_path / "work", [missing])
    store.add([window(missing, 0, True)])  # its reject ("cannot read file") is committed
    assert store.pending() == []
    assert UnitStore(tmp_path / "work", [missing]).pending() == [missing]


def test_an_input_that_fails_as_a_whole_still_completes_its_unit(sample_corpus, tmp_path):
    """A page cache entry that cannot be read fails the whole input inside the load stage: one reject."""
    invoice = str(next(p for p in sample_corpus if p.name == "invoice.pdf"))
    cache = PageCache(f"file://{tmp_path}/cache", "settings")
    stage = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig(), cache)
    stage([SourceDocument(invoice)])
    cache.commit()
    (entry,) = (tmp_path / "cache").rglob("data/*.parquet")
    entry.write_bytes(b"not parquet")
    (failed,) = stage([SourceDocument(invoice)])
    assert (failed.error.stage, failed.error.kind) == ("load", "library_error")
    store = UnitStore(tmp_path / "work", [invoice])
    assert store.add([extend(AnnotatedWindow, failed)]) == 1
    assert store.read(invoice)[0].error == failed.error


def test_run_key_follows_what_shapes_rows_not_where_they_go():
    template = load_template(ROOT / "prompts", "docmatix-qa-completion-v1")
    key = run_key(load_config(None), [template])
    assert run_key(load_config(None, ["prompt.seed=3"]), [template]) != key
    assert run_key(load_config(None, ["output.dir=elsewhere", "run.runner=local", "input.paths=[x]"]), [template]) == key
    assert run_key(load_config(None, ["output.overwrite=true"]), [template]) == key  # resumes a run started without it
    assert run_key(load_config(None, ["output.source_paths=hash"]), [template]) == key
    assert run_key(load_config(None, ["input.passwords=[sesame]"]), [template]) != key
    assert run_key(load_config(None, ["sampling.temperature=0.9"]), [template]) != key
    assert run_key(load_config(None, ["render.dpi=100"]), [template]) != key
    chat = load_template(ROOT / "prompts", "docmatix-qa-chat-v1")
    assert run_key(load_config(None), [chat]) != key
