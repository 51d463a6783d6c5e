"""What the dataset records about where documents came from, and that no secret reaches the dataset folder:
the real writer, config dump and card, read back with real pyarrow; and one real CLI run."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from docqa.config import ConfigError, dump_config, load_config
from docqa.generate.prompts import load_templates
from docqa.ingest.sources import discover_sources, entry_roots
from docqa.output.card import dataset_card
from docqa.output.provenance import SourcePaths, safe_location
from docqa.output.schema import RunInfo
from docqa.output.writer import DatasetWriter
from docqa.records import AnnotatedWindow, DroppedPair, Failure, QAPair
from tests.conftest import ROOT
from tests.corpora.hostile import KNOWN_PASSWORD, write_hostile_corpus

SIGNED = "https://alice:hunter2@bucket.example/corpus/a.pdf?X-Amz-Credential=AKIA1&X-Amz-Signature=f00d#p1"
SIGNED_SAFE = "https://bucket.example/corpus/a.pdf"
SECRETS = ["hunter2", "alice", "X-Amz", "AKIA1", "f00d"]
LOCAL = "/data/corpus/sub/b.pdf"
SHARD_MEMBER = "/data/shards/s0.tar::doc7.pdf"
UNREADABLE = "https://alice:hunter2@bucket.example/corpus/c.pdf?X-Amz-Signature=f00d"
ROOTS = ["https://alice:hunter2@bucket.example/corpus/", "/data/corpus", "/data/shards/s0.tar"]


@pytest.mark.parametrize(
    "path, safe",
    [
        (SIGNED, "https://bucket.example/corpus/a.pdf"),
        ("s3://bucket/key.pdf?X-Amz-Signature=abc", "s3://bucket/key.pdf"),
        ("ftp://user:pw@host:2121/x.pdf", "ftp://host:2121/x.pdf"),
        ("https://u:p@h/shards/s.tar::dir/doc.pdf", "https://h/shards/s.tar::dir/doc.pdf"),
        (LOCAL, LOCAL),
        (SHARD_MEMBER, SHARD_MEMBER),
    ],
)
def test_a_recorded_location_has_no_credentials_query_or_fragment(path, safe):
    assert safe_location(path) == safe


def _windows() -> list[AnnotatedWindow]:
    def window(path: str, **fields) -> AnnotatedWindow:
        return AnnotatedWindow(path, hashlib.sha256(path.encode()).hexdigest(), 1, pages=[0], images=[b"png"], **fields)

    kept = [QAPair("What is the total?", "12 EUR", 1.0)]
    dropped = [DroppedPair("Is it?", "unanswerable", "unanswerable")]
    return [
        window(SIGNED, qa=kept, dropped=dropped, finish_reason="stop"),
        window(LOCAL, qa=kept, finish_reason="stop"),
        window(SHARD_MEMBER, qa=kept, dropped=dropped, finish_reason="stop"),
        window(UNREADABLE, error=Failure("load", "read_error", f"cannot read file: 403 Forbidden, url='{UNREADABLE}'")),
    ]


def _write(out: Path, mode: str) -> dict[str, list[dict]]:
    writer = DatasetWriter(out, RunInfo(0.2, 0.95, 256, 0), 100, 10, 0, source_paths=SourcePaths(mode, ROOTS))
    writer.add(_windows())
    writer.close([SIGNED, LOCAL, "/data/shards/s0.tar", UNREADABLE], "", lambda stats: "card", {})
    tables = {name: next((out / name).glob("*.parquet")) for name in ("data", "rejects", "dropped")}
    return {name: pq.read_table(path).to_pylist() for name, path in tables.items()}


def _short_hash(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    "mode, recorded",
    [
        ("full", [SIGNED_SAFE, LOCAL, SHARD_MEMBER, "https://bucket.example/corpus/c.pdf"]),
        ("relative", ["a.pdf", "sub/b.pdf", "s0.tar::doc7.pdf", "c.pdf"]),
        ("hash", [_short_hash(p) for p in (SIGNED_SAFE, LOCAL, SHARD_MEMBER, "https://bucket.example/corpus/c.pdf")]),
    ],
)
def test_source_paths_mode_applies_to_rows_texts_rejects_and_dropped_pairs(tmp_path, mode, recorded):
    tables = _write(tmp_path / "ds", mode)
    signed, local, member, unreadable = recorded
    assert [row["source_path"] for row in tables["data"]] == [signed, local, member]
    assert tables["data"][1]["texts"][0]["source"] == f"{Path(local).name} p. 1"
    assert [row["source_path"] for row in tables["dropped"]] == [signed, member]
    [reject] = tables["rejects"]
    assert reject["source_path"] == unreadable
    assert reject["reason"] == f"cannot read file: 403 Forbidden, url='{unreadable}'"
    assert not [s for s in SECRETS if s in json.dumps(tables, default=repr)]


def test_relative_paths_are_taken_below_the_entry_each_document_was_found_under(tmp_path):
    (tmp_path / "corpus/sub").mkdir(parents=True)
    (tmp_path / "scans").mkdir()
    for name in ("corpus/sub/b.pdf", "corpus/a.pdf", "scans/x.pdf", "scans/y.pdf", "lone.pdf"):
        (tmp_path / name).write_bytes(b"%PDF-1.4")
    (tmp_path / "inputs.txt").write_text("corpus\n# a comment\nscans/*.pdf\n")
    specs = ["@" + str(tmp_path / "inputs.txt"), str(tmp_path / "lone.pdf")]
    recorded = SourcePaths("relative", entry_roots(specs))
    assert sorted(map(recorded, discover_sources(specs))) == ["a.pdf", "lone.pdf", "sub/b.pdf", "x.pdf", "y.pdf"]


def test_config_yaml_and_card_hold_no_password_nor_url_credentials(default_config):
    overrides = [
        "input.passwords=[sesame, '0042']",
        f"input.paths=['{SIGNED}', /data/corpus]",
        "model.env={HF_TOKEN: hf_s3cret, VLLM_CPU_KVCACHE_SPACE: '4'}",
        "model.engine_kwargs={hf_token: hf_s3cret, enforce_eager: true}",
        "model.endpoint=https://alice:hunter2@llm.example/v1",
    ]
    config = load_config(ROOT / "configs/default.yaml", [f"prompt.directory={ROOT / 'prompts'}", *overrides])
    written = dump_config(config)
    templates = load_templates(config.prompt.directory, config.prompt.templates)
    card = dataset_card(config, templates, "m", {"examples_per_split": {"train": 1}, "inputs": 2})
    for text in (written, card):
        assert not [s for s in [*SECRETS, "sesame", "0042", "hf_s3cret"] if s in text]
    assert "passwords: '<redacted: 2>'" in written and "VLLM_CPU_KVCACHE_SPACE: '4'" in written
    assert "- https://bucket.example/corpus/a.pdf" in written and "https://llm.example/v1" in written
    assert "`https://bucket.example/corpus/a.pdf`, `/data/corpus`" in card and "source_paths: full" in card


def test_hash_and_relative_modes_hide_the_input_entries_in_config_yaml_and_card(default_config):
    for mode, shown in (("hash", _short_hash("/data/corpus")), ("relative", "corpus")):
        config = default_config.model_copy(deep=True)
        config.input.paths, config.output.source_paths = ["/data/corpus"], mode
        card = dataset_card(config, [], "m", {"examples_per_split": {"train": 1}})
        assert "/data/corpus" not in dump_config(config) + card
        assert f"- {shown}" in dump_config(config) and f"`{shown}`" in card and f"source_paths: {mode}" in card


def test_a_written_config_with_redacted_passwords_must_be_given_them_again(tmp_path):
    (tmp_path / "config.yaml").write_text(dump_config(load_config(None, ["input.passwords=[sesame]"])))
    with pytest.raises(ConfigError, match=r"input.passwords was redacted .* --set input.passwords="):
        load_config(tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml", ["input.passwords=[sesame]"]).input.passwords == ["sesame"]


@pytest.mark.parametrize(
    "override",
    ["input.passwords=[12345678]", "input.passwords=[12345678", "input.passwords=12345678"],
    ids=["a number (YAML needs it quoted)", "not valid YAML", "not a list"],
)
def test_an_invalid_password_is_not_echoed_in_the_error(override):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert "input.passwords" in str(error.value) and "12345678" not in str(error.value)


def test_a_cli_run_writes_no_secret_anywhere(tmp_path, embedded_model):
    """Every input is rejected at load (a wrong password, not a PDF), so no text is generated; the endpoint
    named is never called."""
    corpus = write_hostile_corpus(tmp_path / "hostile")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in corpus:
        if path.name in ("encrypted.pdf", "empty.pdf"):
            path.rename(inputs / path.name)
    out = tmp_path / "out"
    settings = [
        "run.runner=local", "text.ocr=false", f"input.passwords=[{KNOWN_PASSWORD}]", f"model.name={embedded_model}",
        "model.endpoint=http://127.0.0.1:9/v1", "model.endpoint_model=m", "output.cache_dir=null",
        "model.env={HF_TOKEN: hf_s3cret}",
    ]
    command = [sys.executable, "-m", "docqa", "dataset", "--input", str(inputs), "--output", str(out)]
    command += [arg for setting in settings for arg in ("--set", setting)]
    env = {**os.environ, "OPENAI_API_KEY": "sk-s3cret", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rejects = pq.read_table(out / "rejects/rejects-00000.parquet").to_pylist()
    assert sorted(r["reason"][:9] for r in rejects) == ["encrypted", "not a PDF"]
    written = [p.read_text() for p in out.rglob("*") if p.suffix in (".md", ".json", ".yaml")]
    written += [json.dumps(pq.read_table(p).to_pylist(), default=repr) for p in out.rglob("*.parquet")]
    for text in [*written, done.stdout, done.stderr]:
        assert KNOWN_PASSWORD not in text and "s3cret" not in text


def test_an_error_line_names_an_input_url_without_its_credentials(tmp_path):
    command = [sys.executable, "-m", "docqa", "dataset", "--input", UNREADABLE.replace("bucket.example", "127.0.0.1:9")]
    done = subprocess.run(command + ["--output", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "https://127.0.0.1:9/corpus/c.pdf" in done.stderr
    assert not [s for s in SECRETS if s in done.stdout + done.stderr]
