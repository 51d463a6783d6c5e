"""Publishing to the Hub: a real output folder (real PDFs, real pyarrow, the real dataset card) pushed by
the real huggingface_hub client and read back by the real `datasets.load_dataset`.

Mocked: the Hub itself, which tests cannot reach. `tests/hub_server.py` fakes its HTTP API strictly (see its
docstring for what it leaves out, Xet storage first). The client reads HF_ENDPOINT and HF_HUB_DISABLE_XET
when it is imported, which has happened in this process before this module runs (docqa.output.writer imports
datasets): pushes made here pass `endpoint=` and turn Xet off through the constant the client reads at call
time, while the CLI and `load_dataset` run in subprocesses that get both variables in their environment.
"""

import hashlib
import json
import logging
import math
import os
import secrets
import subprocess
import sys
import urllib.request
from urllib.error import HTTPError

import huggingface_hub.constants
import pyarrow.parquet as pq
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError

from docqa.__main__ import main
from docqa.config import load_config
from docqa.generate.prompts import load_templates
from docqa.output.card import dataset_card
from docqa.output.hub import PushInterrupted, push_dataset
from docqa.output.schema import RunInfo
from docqa.output.writer import DatasetWriter
from tests.conftest import ROOT, load_fresh
from tests.fakes.hub_server import FakeHub
from tests.output import test_dataset

TOKEN = "hf_" + secrets.token_hex(16)
REPO = "alice/docqa"
BATCH = 4  # files a commit: small, so that a dozen files make several commits

windows = test_dataset.windows  # fixture: the sample PDFs loaded, with a QA pair a window, and a bad file

# Runs in a subprocess whose environment points huggingface_hub at the fake Hub: what `datasets` reads
# from the pushed card (splits, data files per split, features), and every split's rows as Arrow.
LOAD = """
import json, sys
import datasets, pyarrow.parquet as pq
repo, cache, out = sys.argv[1:]
builder = datasets.load_dataset_builder(repo, cache_dir=cache)
splits = {name: split.num_examples for name, split in builder.info.splits.items()}
for split in splits:
    pq.write_table(datasets.load_dataset(repo, split=split, cache_dir=cache).data.table, f"{out}/{split}.parquet")
data_files = {split: len(files) for split, files in builder.config.data_files.items()}
print(json.dumps({"splits": splits, "data_files": data_files, "images": repr(builder.info.features["images"])}))
"""


def build(out, sources, annotated, shard_max_rows):
    config = load_config(ROOT / "configs" / "default.yaml", [f"prompt.directory={ROOT / 'prompts'}"])
    templates = load_templates(config.prompt.directory, config.prompt.templates)
    writer = DatasetWriter(out, RunInfo(0.2, 0.95, 256, 0), shard_max_rows, 2, test_fraction=0.5)
    writer.add(annotated)
    writer.close(sources, "model: {}\n", lambda stats: dataset_card(config, templates, "some/model", stats), {})
    return out


@pytest.fixture(scope="module")
def folder(windows, tmp_path_factory):
    """Two splits, one row a shard: five shards, 14 files in all."""
    return build(tmp_path_factory.mktemp("run1") / "dataset", *windows, shard_max_rows=1)


@pytest.fixture(scope="module")
def folder_v2(windows, tmp_path_factory):
    """A later run with one document fewer and larger shards: other shard names, other rows."""
    sources, annotated = windows
    kept = [w for w in annotated if not w.source_path.endswith("invoice.pdf")]
    return build(tmp_path_factory.mktemp("run2") / "dataset", sources, kept, shard_max_rows=2)


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    with FakeHub(TOKEN, user="alice", tree_page_size=4) as hub:
        yield hub
    assert hub.unknown_routes == [] and hub.errors == []  # the fake answered every request the clients made


def push(hub, folder, **kwargs):
    return push_dataset(folder, REPO, token=TOKEN, endpoint=hub.url, batch_files=BATCH, **kwargs)


def local_files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def pushed_files(hub):
    """The repo's files but the .gitattributes the Hub starts every repo with."""
    return {path: data for path, data in hub.files(REPO).items() if path != ".gitattributes"}


def client_env(hub, tmp_path, token=TOKEN):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env |= {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf-home")}
    return env | ({"HF_TOKEN": token} if token else {})


def load_from_hub(hub, repo, tmp_path):
    out = tmp_path / "loaded"
    out.mkdir()
    args = [sys.executable, "-c", LOAD, repo, str(tmp_path / "hf-cache"), str(out)]
    run = subprocess.run(args, env=client_env(hub, tmp_path), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout.splitlines()[-1])
    return info, {split: pq.read_table(out / f"{split}.parquet") for split in info["splits"]}


def assert_same_rows(folder, tables):
    assert sorted(tables) == sorted(json.loads((folder / "stats.json").read_text())["examples_per_split"])
    for split, table in tables.items():
        local = load_fresh(folder, split=split).data.table
        assert table.column_names == local.column_names and table.equals(local)  # ids, texts, image bytes, all


def test_a_pushed_folder_loads_from_the_hub_with_the_rows_and_card_of_the_folder(hub, folder, tmp_path, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    result = push(hub, folder)

    files = local_files(folder)
    assert pushed_files(hub) == files
    assert hub.repos[REPO].private and result.unchanged == [] and len(result.uploaded) == len(files)
    commits = hub.commits(REPO)
    assert len(commits) == math.ceil(len(files) / BATCH) and all(len(c["added"]) <= BATCH for c in commits)
    assert commits[-1]["added"][-1] == "README.md" and all("README.md" not in c["added"] for c in commits[:-1])
    assert sorted(hub.uploads(REPO)) == sorted(hashlib.sha256(files[p]).hexdigest() for c in commits for p in c["lfs"])

    info, tables = load_from_hub(hub, REPO, tmp_path)
    per_split = json.loads((folder / "stats.json").read_text())["examples_per_split"]
    assert info["splits"] == per_split and len(per_split) == 2  # the card's dataset_info, both splits
    assert info["data_files"] == {s: sum(p.startswith(f"data/{s}-") for p in files) for s in per_split}  # its configs
    assert info["images"].startswith("List(Image(")
    assert_same_rows(folder, tables)

    out = capfd.readouterr()
    assert f"commit {len(commits)}/{len(commits)}" in out.out
    assert TOKEN not in out.out + out.err + caplog.text


@pytest.mark.parametrize("applied", [False, True], ids=["commit-lost", "answer-lost"])
def test_an_interrupted_push_resumes_without_sending_a_file_twice(hub, folder, applied):
    hub.drop_connection_on_commit(REPO, 2, applied=applied)
    with pytest.raises(PushInterrupted, match="interrupted after 1 of .* run the same command again"):
        push(hub, folder)
    before = hub.commits(REPO)
    assert len(before) == (2 if applied else 1)
    assert "README.md" not in hub.files(REPO)  # the half-pushed repo advertises no shards
    committed = {p for c in before for p in c["added"]}

    result = push(hub, folder)
    resumed = hub.commits(REPO)[len(before) :]
    assert not committed & {p for c in resumed for p in c["added"]}  # no committed file sent again
    assert set(result.unchanged) == committed and set(result.uploaded) == set(local_files(folder)) - committed
    uploads = hub.uploads(REPO)
    assert len(uploads) == len(set(uploads))  # nor any LFS object, even those of the lost commit
    assert pushed_files(hub) == local_files(folder)

    again = push(hub, folder)
    assert again.uploaded == [] and len(hub.commits(REPO)) == len(before) + len(resumed)


def test_a_later_run_pushed_over_an_earlier_one_replaces_its_shards(hub, folder, folder_v2, tmp_path):
    push(hub, folder)
    result = push(hub, folder_v2)
    old, new = local_files(folder), local_files(folder_v2)
    assert result.deleted == sorted(set(old) - set(new)) and result.deleted[0].startswith("data/")
    assert "config.yaml" in result.unchanged  # the same bytes: not sent again
    assert pushed_files(hub) == new
    _, tables = load_from_hub(hub, REPO, tmp_path)
    assert_same_rows(folder_v2, tables)


def test_a_push_to_a_branch_leaves_main_as_it_was(hub, folder):
    result = push(hub, folder, revision="v2")
    assert hub.files(REPO, "v2") == local_files(folder) | {".gitattributes": hub.files(REPO)[".gitattributes"]}
    assert set(hub.files(REPO)) == {".gitattributes"} and result.url == f"{hub.url}/datasets/{REPO}/tree/v2"


def test_a_push_stops_when_someone_else_commits_meanwhile(hub, folder):
    def log(line):
        if "to upload" in line:  # between the listing and the first commit
            other = HfApi(endpoint=hub.url, token=TOKEN)
            other.upload_file(path_or_fileobj=b"hello", path_in_repo="notes.txt", repo_id=REPO, repo_type="dataset")

    with pytest.raises(PushInterrupted, match="changed during the push before any commit"):
        push(hub, folder, log=log)
    assert [c["added"] for c in hub.commits(REPO)] == [["notes.txt"]]


HEADER = {"key": "header", "value": {"summary": "a commit made by hand"}}


def raw(method, url, body=b"", **headers):
    """A request without the client: status and JSON answer."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_the_fake_hub_refuses_what_the_hub_refuses(hub):
    """The fake's strictness, which the tests above rely on: a stale parent commit, an LFS object never
    uploaded, bytes that are not the announced object, invalid card metadata, a wrong or missing token."""
    repo = {"repo_id": "alice/strict", "repo_type": "dataset"}
    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo(**repo, private=True)
    first = hub.head("alice/strict")

    def commit_on_first(name):
        operations = [CommitOperationAdd(name, name.encode())]
        return api.create_commit(**repo, operations=operations, commit_message=name, parent_commit=first)

    commit_on_first("a.txt")
    with pytest.raises(HfHubHTTPError) as stale:  # the first commit is no longer the head
        commit_on_first("b.txt")
    assert stale.value.response.status_code == 412
    assert set(hub.files("alice/strict")) == {".gitattributes", "a.txt"}

    auth = {"Authorization": f"Bearer {TOKEN}"}
    lfs = {"path": "x.parquet", "algo": "sha256", "oid": hashlib.sha256(b"never sent").hexdigest(), "size": 10}
    body = b"".join(json.dumps(line).encode() + b"\n" for line in [HEADER, {"key": "lfsFile", "value": lfs}])
    ndjson = {"Content-Type": "application/x-ndjson"}
    status, answer = raw("POST", f"{hub.url}/api/datasets/alice/strict/commit/main", body, **auth, **ndjson)
    assert status == 400 and "never uploaded" in answer["error"] and "x.parquet" not in hub.files("alice/strict")

    announced = {"operation": "upload", "objects": [{"oid": hashlib.sha256(b"right").hexdigest(), "size": 5}]}
    batch_url = f"{hub.url}/datasets/alice/strict.git/info/lfs/objects/batch"
    status, batch = raw("POST", batch_url, json.dumps(announced).encode(), **auth)
    assert status == 200
    assert raw("PUT", batch["objects"][0]["actions"]["upload"]["href"], b"wrong")[0] == 400
    assert hub.uploads("alice/strict") == []

    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        api.upload_file(**repo, path_or_fileobj=b"---\nconfigs: [\n---\n", path_in_repo="README.md")
    assert raw("GET", f"{hub.url}/api/datasets/alice/strict", Authorization="Bearer hf_wrong")[0] == 401
    assert raw("GET", f"{hub.url}/api/datasets/alice/strict")[0] == 401  # private: hidden without the token


def test_the_cli_takes_the_token_from_the_environment_and_never_prints_it(hub, folder, tmp_path):
    command = [sys.executable, "-m", "docqa", "push", str(folder), "--repo", "alice/cli"]

    def cli(*extra, token=TOKEN):
        env = client_env(hub, tmp_path, token)
        return subprocess.run(command + list(extra), env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)

    wrong_token = "hf_" + secrets.token_hex(16)
    refused, anonymous = cli(token=wrong_token), cli(token=None)
    for run, message in [(refused, "the Hub refused the token"), (anonymous, "no Hugging Face token")]:
        assert run.returncode == 2 and run.stdout == ""
        assert run.stderr.startswith(f"error: {message}") and run.stderr.count("\n") == 1 and "HF_TOKEN" in run.stderr
        assert wrong_token not in run.stderr
    assert "alice/cli" not in hub.repos

    run = cli("--public")
    assert run.returncode == 0, run.stderr
    assert "commit 1/" in run.stdout and run.stdout.rstrip().endswith(f"{hub.url}/datasets/alice/cli")
    assert TOKEN not in run.stdout + run.stderr
    assert not hub.repos["alice/cli"].private


@pytest.mark.parametrize(
    "where, repo, message",
    [
        ("missing", REPO, "no folder"),
        ("empty", REPO, "has no data/*.parquet shards"),
        ("folder", "alice/doc qa", "bad repo id 'alice/doc qa': use <user or org>/<name>"),
        ("folder", "docqa", "bad repo id 'docqa'"),
    ],
)
def test_user_errors_are_one_line_that_names_the_fix(where, repo, message, folder, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    path = folder if where == "folder" else tmp_path / where
    assert main(["push", str(path), "--repo", repo]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_make_push_runs_the_cli_and_requires_a_repo():
    def make(*args):  # -n: print the commands, run none
        return subprocess.run(["make", "-n", "push", *args], cwd=ROOT, capture_output=True, text=True)

    public = make("REPO=alice/docqa", "PUBLIC=1", "OUTPUT=out/x")
    assert public.returncode == 0 and "-m docqa push 'out/x' --repo 'alice/docqa' --public\n" in public.stdout
    assert "-m docqa push 'out/dataset' --repo 'alice/docqa'\n" in make("REPO=alice/docqa").stdout
    missing = make()
    assert missing.returncode != 0 and "set REPO=<user or org>/<name>" in missing.stderr
