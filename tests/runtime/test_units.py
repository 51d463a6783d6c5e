"""Work units: atomic commits, discarded partial work, and which settings invalidate committed units."""

from docqa.config import load_config
from docqa.generate.prompts import load_template
from docqa.records import AnnotatedWindow
from docqa.runtime.units import UnitStore, run_key
from tests.conftest import ROOT


def window(path, index, of):
    return AnnotatedWindow(path, doc_id="d" * 64, window=index, unit_records=of)


def test_a_unit_commits_when_its_last_record_arrives(tmp_path):
    store = UnitStore(tmp_path)
    assert store.add([window("/a.pdf", 1, 2), window("/b.pdf", 0, 1)]) == 1
    assert store.is_done("/b.pdf") and not store.is_done("/a.pdf")
    assert store.unfinished() == ["/a.pdf"]
    assert store.add([window("/a.pdf", 0, 2)]) == 1
    assert [w.window for w in store.read("/a.pdf")] == [0, 1]  # in window order, whatever the arrival order


def test_documents_of_a_shard_belong_to_the_shard(tmp_path):
    store = UnitStore(tmp_path)
    store.add([window("/s.tar::1.pdf", 0, 2), window("/s.tar::2.pdf", 0, 2)])
    assert store.is_done("/s.tar")
    assert [w.source_path for w in store.read("/s.tar")] == ["/s.tar::1.pdf", "/s.tar::2.pdf"]


def test_a_restart_keeps_committed_units_and_drops_partial_ones(tmp_path):
    store = UnitStore(tmp_path)
    store.add([window("/a.pdf", 0, 1), window("/b.pdf", 0, 3)])  # ...and the process is killed here
    restarted = UnitStore(tmp_path)
    assert restarted.is_done("/a.pdf") and not restarted.is_done("/b.pdf")
    assert list((tmp_path / "partial").iterdir()) == []
    restarted.add([window("/b.pdf", i, 3) for i in range(3)])
    assert len(restarted.read("/b.pdf")) == 3


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
