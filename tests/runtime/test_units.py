"""Work units: receipts from part files committed atomically, duplicates taken once, torn files removed,
which settings invalidate committed units, how PDFs are grouped, and which changes to an input make its
committed rows stale. Real files, real Parquet, the real part-writing stage."""

import os

import fsspec
import pytest

from docqa.config import InputConfig, LimitsConfig, RenderConfig, TextConfig, load_config
from docqa.generate.prompts import load_template
from docqa.ingest.load import LoadDocuments
from docqa.records import AnnotatedWindow, QAPair, Receipt, SourceDocument, extend, to_table
from docqa.runtime.faults import SystemicFault
from docqa.runtime.page_cache import PageCache
from docqa.runtime.units import UnitStore, WriteParts, read_committed, run_key
from tests.conftest import ROOT


def pdfs(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"%PDF-1.7 " + name.encode())
    return [str(folder / name) for name in names]


def window(unit, index, last, path=None):
    return AnnotatedWindow(path or unit.sources[index % len(unit.sources)], doc_id=f"{index:064d}", window=index,
                           unit=unit.name, unit_index=index, unit_last=last, qa=[QAPair(f"q{index}", "a")])


def deliver(store, *batches):
    """What a run does: a worker writes each batch to part files (`WriteParts`), the driver commits from the
    receipts alone; returns how many inputs each delivery completed."""
    writer = WriteParts(store.work_dir, batch_size=64)
    return [store.add(to_table(Receipt, writer(list(batch)))) for batch in batches]


def indexes(store, unit):
    return read_committed(store.work_dir, unit.name, columns=["unit_index"])["unit_index"].to_pylist()


def test_a_unit_commits_once_its_last_record_and_every_one_before_it_arrived_in_any_order(tmp_path):
    a, b = pdfs(tmp_path, "a.pdf", "b.pdf")
    store = UnitStore(tmp_path / "work", [a, b])
    unit_a, unit_b = store.units
    assert deliver(store, [window(unit_a, 2, True), window(unit_b, 0, True)]) == [1]  # blocks come as they finish
    assert store.pending() == [unit_a]
    assert deliver(store, [window(unit_a, 0, False)]) == [0]
    assert deliver(store, [window(unit_a, 1, False)]) == [1]
    assert store.pending() == []
    assert indexes(store, unit_a) == [0, 1, 2]  # in the order the unit produced them


def test_a_committed_unit_reads_back_its_records_as_they_were_written(tmp_path):
    (a,) = pdfs(tmp_path, "a.pdf")
    store = UnitStore(tmp_path / "work", [a])
    (unit,) = store.units
    windows = [window(unit, i, i == 4) for i in range(5)]
    deliver(store, windows[3:], windows[:3])
    assert read_committed(store.work_dir, unit.name) == to_table(AnnotatedWindow, windows)
    texts = read_committed(store.work_dir, unit.name, columns=["qa"])
    assert texts.column_names == ["qa", "unit_index"] and len(texts) == 5


def test_a_record_delivered_twice_is_committed_once_and_its_extra_part_removed_at_restart(tmp_path):
    """A retried task writes its batch again, to another part file, and its receipts arrive again."""
    (a,) = pdfs(tmp_path, "a.pdf")
    store = UnitStore(tmp_path / "work", [a])
    (unit,) = store.units
    first, second, last = (window(unit, i, i == 2) for i in range(3))
    deliver(store, [first, second], [first, second])
    deliver(store, [last], [last])  # again after the commit, too
    assert indexes(store, unit) == [0, 1, 2]
    parts = tmp_path / "work" / "parts" / unit.name
    assert len(list(parts.iterdir())) == 4
    restarted = UnitStore(tmp_path / "work", [a])
    assert restarted.pending() == [] and len(list(parts.iterdir())) == 2
    assert indexes(restarted, unit) == [0, 1, 2]


def test_a_restart_keeps_committed_units_and_drops_partial_ones(tmp_path):
    a, b = pdfs(tmp_path, "a.pdf", "b.pdf")
    store = UnitStore(tmp_path / "work", [a, b])
    unit_a, unit_b = store.units
    deliver(store, [window(unit_a, 0, True), window(unit_b, 0, False)])  # ...and the process is killed here
    restarted = UnitStore(tmp_path / "work", [a, b])
    assert restarted.pending() == [unit_b]
    assert [p.name for p in (tmp_path / "work" / "parts").iterdir()] == [unit_a.name]
    deliver(restarted, [window(unit_b, i, i == 2) for i in range(3)])
    assert indexes(restarted, unit_b) == [0, 1, 2]


def test_a_commit_or_a_part_torn_by_a_kill_is_redone(tmp_path):
    """Killed while writing the marker, or while a worker wrote a part: both are under temporary names."""
    a, b = pdfs(tmp_path, "a.pdf", "b.pdf")
    store = UnitStore(tmp_path / "work", [a, b])
    unit_a, unit_b = store.units
    deliver(store, [window(unit_a, 0, True), window(unit_b, 0, True)])
    marker = tmp_path / "work" / "units" / f"{unit_b.name}.json"
    torn_marker = marker.with_name(f".{marker.name}.tmp")
    torn_marker.write_text(marker.read_text()[:20])
    marker.unlink()
    torn_part = tmp_path / "work" / "parts" / unit_a.name / ".0123.parquet.tmp"
    torn_part.write_bytes(b"PAR1 cut")
    restarted = UnitStore(tmp_path / "work", [a, b])
    assert restarted.pending() == [unit_b]
    assert not torn_marker.exists() and not torn_part.exists()
    assert not (tmp_path / "work" / "parts" / unit_b.name).exists()
    assert indexes(restarted, unit_a) == [0]


def test_a_part_written_where_the_driver_cannot_see_it_stops_the_run(tmp_path):
    """A worker on another node whose work folder is its own disk: the part never reaches the driver's."""
    (a,) = pdfs(tmp_path, "a.pdf")
    store = UnitStore(tmp_path / "work", [a])
    receipts = to_table(Receipt, WriteParts(tmp_path / "elsewhere", 64)([window(store.units[0], 0, True)]))
    with pytest.raises(SystemicFault, match="not visible to this process; put the output"):
        store.add(receipts)
    assert store.pending() == store.units


def test_pdfs_are_grouped_in_input_order_and_a_shard_is_a_unit_alone(tmp_path):
    names = [f"{i:03d}.pdf" for i in range(250)]
    sources = pdfs(tmp_path, *names[:120], "s.tar", *names[120:])
    units = UnitStore(tmp_path / "work", sources, max_documents=4).units
    # 250 PDFs: 3 a unit (at least 100 units by default), the shard alone, and the PDFs before it end their group.
    assert [len(u.sources) for u in units] == [3] * 40 + [1] + [3] * 43 + [1]
    assert [s for u in units for s in u.sources] == sources
    assert units == UnitStore(tmp_path / "work", sources, max_documents=4).units  # the same names next run
    assert len({u.name for u in units}) == len(units)
    few = UnitStore(tmp_path / "few", sources[:5], max_documents=64).units
    assert [len(u.sources) for u in few] == [1] * 5  # a small run still commits input by input
    capped = UnitStore(tmp_path / "mb", sources[:200], max_documents=64, max_mb=25 / 1e6).units
    assert {len(u.sources) for u in capped} == {1}  # 16-byte files, 25 bytes a unit


def test_a_replaced_member_redoes_its_group_only(tmp_path):
    sources = pdfs(tmp_path, *[f"{i}.pdf" for i in range(9)])
    store = UnitStore(tmp_path / "work", sources, max_documents=3, min_units=1)
    deliver(store, [window(unit, 0, True) for unit in store.units])
    assert store.pending() == []
    with open(sources[4], "ab") as f:
        f.write(b" and more")
    resumed = UnitStore(tmp_path / "work", sources, max_documents=3, min_units=1)
    assert [u.sources for u in resumed.pending()] == [sources[3:6]]


def test_a_unit_of_many_inputs_counts_them_all_when_it_commits(tmp_path):
    sources = pdfs(tmp_path, *[f"{i}.pdf" for i in range(9)])
    store = UnitStore(tmp_path / "work", sources, max_documents=3, min_units=1)
    unit = store.units[0]
    assert deliver(store, [window(unit, i, i == 3) for i in range(4)]) == [3]  # inputs, for the progress bar
    assert store.committed() == [unit]


def test_a_file_replaced_between_a_kill_and_the_resume_is_redone(tmp_path):
    longer, same_size, touched, kept = pdfs(tmp_path, "longer.pdf", "same.pdf", "touched.pdf", "kept.pdf")
    sources = [longer, same_size, touched, kept]
    store = UnitStore(tmp_path / "work", sources)
    deliver(store, [window(unit, 0, True) for unit in store.units])  # committed, killed before publishing
    with open(longer, "ab") as f:
        f.write(b" and more")
    stat = os.stat(same_size)
    with open(same_size, "r+b") as f:
        f.write(b"%PDF-2.0")  # the same size, rewritten a second later
    os.utime(same_size, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    assert [u.sources for u in UnitStore(tmp_path / "work", sources).pending()] == [[longer], [same_size], [touched]]


def test_a_remote_object_replaced_between_a_kill_and_the_resume_is_redone(tmp_path):
    fs = fsspec.filesystem("memory")
    fs.pipe({"/bucket/a.pdf": b"%PDF a", "/bucket/b.pdf": b"%PDF b"})
    sources = ["memory://bucket/a.pdf", "memory://bucket/b.pdf"]
    try:
        store = UnitStore(tmp_path / "work", sources)
        deliver(store, [window(unit, 0, True) for unit in store.units])
        fs.pipe("/bucket/b.pdf", b"%PDF b")  # the same bytes, uploaded again: a new object
        assert [u.sources for u in UnitStore(tmp_path / "work", sources).pending()] == [["memory://bucket/b.pdf"]]
    finally:
        fs.rm("/bucket", recursive=True)


def test_an_input_whose_identity_cannot_be_read_is_always_redone(tmp_path):
    missing = str(tmp_path / "gone.pdf")
    store = UnitStore(tmp_path / "work", [missing])
    deliver(store, [window(store.units[0], 0, True)])  # its reject ("cannot read file") is committed
    assert store.pending() == []
    assert [u.sources for u in UnitStore(tmp_path / "work", [missing]).pending()] == [[missing]]


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
    (unit,) = store.units
    failed.unit = unit.name  # as the run names it; the stage names a lone input's unit by its path
    assert deliver(store, [extend(AnnotatedWindow, failed)]) == [1]
    assert store.read(unit.name)[0].error == failed.error


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
