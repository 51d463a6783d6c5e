"""What publishing may replace and what it never deletes: local folders, fsspec URLs and the Hub under one
policy. Real writer output (real PDFs, real pyarrow), real fsspec memory filesystem, the real
huggingface_hub client against the strict fake Hub of `tests/fakes/hub_server.py` (the Hub itself cannot
be reached from tests). No engine: a refused output stops the run before the model is resolved.
"""

import json
import subprocess

import fsspec
import pytest
from huggingface_hub import HfApi

from docqa.__main__ import main
from docqa.output.hub import PushError
from docqa.output.publish import MANIFEST, MARK, OutputRefused, upload
from docqa.output.schema import RunInfo
from docqa.output.writer import DatasetWriter
from tests.conftest import ROOT, load_fresh
from tests.output import test_hub
from tests.output.test_dataset import write
from tests.output.test_hub import REPO, TOKEN, push, pushed_files

# fixtures shared with the Hub tests: the sample PDFs loaded, two runs' output folders, the fake Hub
windows, folder, folder_v2, hub = test_hub.windows, test_hub.folder, test_hub.folder_v2, test_hub.hub


def files_of(where):
    return {p.relative_to(where).as_posix(): p.read_bytes() for p in where.rglob("*") if p.is_file()}


def run_cli(tmp_path, capsys, output, pdfs, *extra):
    """`python -m docqa dataset` in this process, as far as it gets: (exit code, stderr)."""
    args = ["dataset", "--input", str(pdfs), "--output", str(output), "--set", "run.runner=local"]
    code = main(args + ["--set", f"output.cache_dir={tmp_path / 'cache'}", *extra])
    return code, capsys.readouterr().err


@pytest.fixture
def pdfs(tmp_path, sample_corpus):
    inputs = tmp_path / "inputs" / "pdfs"
    inputs.mkdir(parents=True)
    (inputs / "report.pdf").write_bytes(sample_corpus[-1].read_bytes())
    return inputs


def test_a_folder_docqa_did_not_write_is_refused_before_any_work_and_left_as_it_was(tmp_path, capsys, pdfs):
    mine = tmp_path / "thesis"
    (mine / "chapters").mkdir(parents=True)
    (mine / "chapters" / "one.tex").write_text("my only copy")
    before = files_of(mine)

    code, err = run_cli(tmp_path, capsys, mine, pdfs)

    assert code == 2 and err.count("\n") == 1
    assert str(mine) in err and "choose another --output, or pass --overwrite to replace the folder" in err
    assert files_of(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs", "thesis"]  # no cache, no work, no staging


def test_a_file_is_refused_even_with_overwrite(tmp_path, capsys, pdfs):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    for extra in [(), ("--overwrite",)]:
        code, err = run_cli(tmp_path, capsys, notes, pdfs, *extra)
        assert code == 2 and err.count("\n") == 1 and f"{notes} is not a folder" in err
    assert notes.read_text() == "keep me"


@pytest.mark.parametrize("target", ["input", "parent", "home", "home as a URL", "root"])
def test_an_input_its_parent_home_and_root_are_refused_even_with_overwrite(tmp_path, capsys, monkeypatch, pdfs, target):
    home = tmp_path / "home"
    (home / ".bashrc").parent.mkdir()
    (home / ".bashrc").write_text("mine")
    monkeypatch.setenv("HOME", str(home))
    outputs = {"input": pdfs, "parent": pdfs.parent, "home": "~", "home as a URL": f"file://{home}", "root": "/"}
    code, err = run_cli(tmp_path, capsys, outputs[target], pdfs, "--overwrite")
    assert code == 2 and err.count("\n") == 1
    assert "choose another --output (--overwrite does not apply)" in err
    assert ("is your home folder" in err) == target.startswith("home")
    assert (pdfs / "report.pdf").is_file() and sorted(p.name for p in (tmp_path / "inputs").iterdir()) == ["pdfs"]
    assert files_of(home) == {".bashrc": b"mine"}


def test_overwrite_replaces_a_folder_docqa_did_not_write(tmp_path, windows):
    sources, annotated = windows
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("the user said so")
    with pytest.raises(OutputRefused, match="holds 1 file"):
        write(out, sources, annotated)
    assert files_of(out) == {"old.txt": b"the user said so"}

    writer = DatasetWriter(out, RunInfo(0.2, 0.95, 256, 0), 100, 2, 0, overwrite=True)
    writer.add(annotated)
    writer.close(sources, "", lambda stats: "card", {})
    assert not (out / "old.txt").exists() and len(load_fresh(out, split="train")) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_rerun_replaces_the_previous_dataset_keeps_files_added_by_hand_and_removes_its_stale_shards(
    tmp_path, windows
):
    sources, annotated = windows
    out = tmp_path / "ds"
    write(out, sources, annotated, shard_max_rows=2)  # three shards
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["files"]) == set(files_of(out)) - {MANIFEST} and manifest["docqa_version"]
    (out / "NOTES.md").write_text("how I use this dataset")
    (out / "data" / "extra.csv").write_text("a,b\n")

    write(out, sources, annotated[:2])  # one shard

    assert sorted(p.name for p in (out / "data").iterdir()) == ["extra.csv", "train-00000-of-00001.parquet"]
    assert (out / "NOTES.md").read_text() == "how I use this dataset" and (out / "data" / "extra.csv").is_file()
    assert len(load_fresh(out, split="train")) == 2
    assert set(json.loads((out / MANIFEST).read_text())["files"]) == set(files_of(out)) - {
        MANIFEST,
        "NOTES.md",
        "data/extra.csv",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no .previous, .partial or .work left


def test_the_output_of_an_earlier_version_without_a_manifest_is_replaced(tmp_path, windows):
    sources, annotated = windows
    out = tmp_path / "ds"
    write(out, sources, annotated, shard_max_rows=2)
    (out / MANIFEST).unlink()  # as every version before manifests wrote it

    write(out, sources, annotated[:2])
    assert sorted(p.name for p in (out / "data").iterdir()) == ["train-00000-of-00001.parquet"]
    assert (out / MANIFEST).is_file()


@pytest.mark.parametrize("cut", ["before the swap", "after the swap"])
def test_a_publish_cut_short_is_finished_by_the_next_run_without_losing_a_file(tmp_path, windows, cut):
    sources, annotated = windows
    out, aside = tmp_path / "ds", tmp_path / ".ds.previous"
    write(out, sources, annotated, shard_max_rows=2)  # three shards
    (out / "NOTES.md").write_text("mine")
    (out / MARK).write_text("")
    out.rename(aside)  # the publish died right after setting the old dataset aside...
    if cut == "after the swap":  # ...or right after the new one took its place
        write(tmp_path / "new", sources, annotated[:2])
        (tmp_path / "new").rename(out)

    write(out, sources, annotated[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert (out / "NOTES.md").read_text() == "mine" and len(load_fresh(out, split="train")) == 2
    assert sorted(p.name for p in (out / "data").iterdir()) == ["train-00000-of-00001.parquet"]


@pytest.mark.parametrize("role", ["partial", "previous", "work"])
def test_a_folder_beside_the_output_without_the_mark_is_never_removed(tmp_path, capsys, pdfs, role):
    beside = tmp_path / f".ds.{role}"
    beside.mkdir()
    (beside / "keep.txt").write_text("not docqa's")
    code, err = run_cli(tmp_path, capsys, tmp_path / "ds", pdfs)
    assert code == 2 and err.count("\n") == 1 and f"{beside} is in the way" in err
    assert files_of(beside) == {"keep.txt": b"not docqa's"}


def test_an_upload_removes_only_the_files_its_manifest_lists_and_keeps_the_rest(tmp_path, windows):
    # memory:// stands in for an object store (s3://, gs://): the same fsspec calls, no network.
    sources, annotated = windows
    url, remote = "memory://bucket/kept/ds", fsspec.filesystem("memory")
    write(tmp_path / "v1", sources, annotated, shard_max_rows=2)
    upload(tmp_path / "v1", url)
    remote.pipe("/bucket/kept/ds/data/by-hand.parquet", b"a user's own file")
    write(tmp_path / "v2", sources, annotated[:2])

    upload(tmp_path / "v2", url)

    there = {p.removeprefix("/bucket/kept/ds/") for p in remote.find("/bucket/kept/ds")}
    assert there == set(files_of(tmp_path / "v2")) | {"data/by-hand.parquet"}
    assert not any(name.startswith("data/train-") and name.endswith("of-00003.parquet") for name in there)
    assert remote.cat("/bucket/kept/ds/" + MANIFEST) == (tmp_path / "v2" / MANIFEST).read_bytes()


def test_an_upload_over_objects_docqa_did_not_write_is_refused_unless_overwrite(tmp_path, windows):
    sources, annotated = windows
    url, remote = "memory://bucket/theirs", fsspec.filesystem("memory")
    remote.pipe("/bucket/theirs/backup.tar", b"someone's backup")
    write(tmp_path / "ds", sources, annotated)
    with pytest.raises(OutputRefused, match="memory://bucket/theirs holds 1 file.*pass --overwrite"):
        upload(tmp_path / "ds", url)
    assert remote.find("/bucket/theirs") == ["/bucket/theirs/backup.tar"]

    upload(tmp_path / "ds", url, overwrite=True)
    assert {p.removeprefix("/bucket/theirs/") for p in remote.find("/bucket/theirs")} == set(files_of(tmp_path / "ds"))


def test_a_push_deletes_only_what_the_previous_push_listed(hub, folder, folder_v2):
    push(hub, folder)
    by_hand = {"LICENSE": b"CC-BY-4.0", "data/extra.csv": b"a,b\n"}
    for name, data in by_hand.items():
        HfApi(endpoint=hub.url, token=TOKEN).upload_file(
            path_or_fileobj=data, path_in_repo=name, repo_id=REPO, repo_type="dataset"
        )

    result = push(hub, folder_v2)

    old, new = files_of(folder), files_of(folder_v2)
    assert result.deleted == sorted(set(old) - set(new)) and result.deleted
    assert pushed_files(hub) == new | by_hand


def test_a_push_to_a_repo_docqa_did_not_write_is_refused_unless_overwrite(hub, folder):
    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo(REPO, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"my notes", path_in_repo="notes.md", repo_id=REPO, repo_type="dataset")
    with pytest.raises(PushError, match=f"{REPO}@main holds 1 file.*choose another repo, or pass --overwrite"):
        push(hub, folder)
    assert pushed_files(hub) == {"notes.md": b"my notes"}

    push(hub, folder, overwrite=True)
    assert pushed_files(hub) == files_of(folder)


def test_make_passes_overwrite_only_when_asked():
    def make(*args):  # -n: print the commands, run none
        return subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    assert "--overwrite" in make("dataset", "OVERWRITE=1") and "--overwrite" not in make("dataset")
    assert "--repo 'a/b' --overwrite" in make("push", "REPO=a/b", "OVERWRITE=1")
