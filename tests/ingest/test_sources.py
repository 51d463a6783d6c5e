"""Input discovery and reading: real local and in-memory fsspec filesystems, real tar shards, real PDFs."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import tarfile
import tracemalloc
import uuid

import fsspec
import pymupdf
import pytest

from docqa.ingest.sources import (
    MAX_METADATA_BYTES,
    NoInputError,
    SourceFile,
    discover_sources,
    iter_documents,
    source_of,
)
from docqa.records import Failure

MAX_BYTES = 1_000_000


def pdf_bytes(text: str) -> bytes:
    with pymupdf.open() as doc:
        doc.new_page().insert_text((72, 72), text)
        return doc.tobytes()


def page_text(data: bytes) -> str:
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        return doc[0].get_text().strip()


def tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def read_all(source: str) -> list[SourceFile]:
    return list(iter_documents(source, max_bytes=MAX_BYTES))


def names(paths: list[str]) -> list[str]:
    return [p.rsplit("/", 1)[-1] for p in paths]


@pytest.fixture
def memory_folder():
    """A fresh folder in fsspec's process-wide memory filesystem, removed afterwards."""
    fs = fsspec.filesystem("memory")
    folder = f"sources-{uuid.uuid4().hex}"
    yield fs, folder
    if fs.exists(f"/{folder}"):
        fs.rm(f"/{folder}", recursive=True)


# A webdataset shard: the .json comes before the .pdf in s1, after it in s2; s3 has a stray .txt.
SAMPLES = {"s1": "first sample", "s2": "second sample", "batch/s3": "third sample"}
SHARD_MEMBERS = [
    ("s1.json", json.dumps({"url": "https://example.org/s1.pdf"}).encode()),
    ("s1.pdf", pdf_bytes(SAMPLES["s1"])),
    ("s2.pdf", pdf_bytes(SAMPLES["s2"])),
    ("s2.json", json.dumps({"url": "https://example.org/s2.pdf"}).encode()),
    ("batch/s3.pdf", pdf_bytes(SAMPLES["batch/s3"])),
    ("batch/s3.txt", b"extracted text, not a document"),
    ("batch/s3.json", json.dumps({"url": "https://example.org/s3.pdf"}).encode()),
]


def test_local_folder_yields_pdfs_and_tar_shards_recursively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ["one.pdf", "a/two.PDF", "a/b/three.pdf", "a/notes.txt", "a/b/shard-0.tar", "shard-1.TAR.GZ"]:
        (tmp_path / name).write_bytes(b"%PDF-1.4")
    found = discover_sources([str(tmp_path)])
    assert names(found) == ["shard-0.tar", "three.pdf", "two.PDF", "one.pdf", "shard-1.TAR.GZ"]  # by full path
    assert all(os.path.isabs(p) for p in found)


def test_local_globs_files_and_repeats(tmp_path):
    for name in ["x1.pdf", "x2.pdf", "y.pdf"]:
        (tmp_path / name).write_bytes(b"%PDF-1.4")
    found = discover_sources([str(tmp_path / "x*.pdf"), str(tmp_path / "x1.pdf")])
    assert names(found) == ["x1.pdf", "x2.pdf"]


def test_missing_or_empty_inputs_stop_the_run_with_a_reason(tmp_path):
    with pytest.raises(NoInputError, match="neither a file"):
        discover_sources([str(tmp_path / "missing")])
    with pytest.raises(NoInputError, match="matches no file"):
        discover_sources([str(tmp_path / "*.pdf")])
    with pytest.raises(NoInputError, match="no PDF found"):
        discover_sources([str(tmp_path)])


def test_file_urls_keep_their_protocol_and_read_back(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.pdf").write_bytes(pdf_bytes("via file url"))
    (tmp_path / "sub" / "notes.txt").write_text("not an input")
    found = discover_sources([f"file://{tmp_path}", f"file://{tmp_path}/sub/*.pdf"])
    assert found == [f"file://{tmp_path}/sub/a.pdf"]
    [doc] = read_all(found[0])
    assert doc.error is None and page_text(doc.data) == "via file url"


def test_memory_filesystem_folder_glob_and_read(memory_folder):
    fs, folder = memory_folder
    fs.pipe(f"/{folder}/a.pdf", pdf_bytes("in memory"))
    fs.pipe(f"/{folder}/deep/b.PDF", pdf_bytes("deeper"))
    fs.pipe(f"/{folder}/deep/shard.tar", tar_bytes(SHARD_MEMBERS))
    fs.pipe(f"/{folder}/deep/readme.md", b"not an input")

    found = discover_sources([f"memory://{folder}"])
    assert [p.split(folder)[1] for p in found] == ["/a.pdf", "/deep/b.PDF", "/deep/shard.tar"]
    assert all(p.startswith("memory://") for p in found)
    assert discover_sources([f"memory://{folder}/**/*.PDF"]) == [found[1]]

    assert page_text(read_all(found[0])[0].data) == "in memory"
    assert [page_text(d.data) for d in read_all(found[2])] == list(SAMPLES.values())


def test_missing_urls_stop_the_run_with_a_reason(memory_folder):
    fs, folder = memory_folder
    fs.pipe(f"/{folder}/notes.txt", b"not an input")
    with pytest.raises(NoInputError, match="neither a file"):
        discover_sources([f"memory://{folder}/missing.pdf"])
    with pytest.raises(NoInputError, match="matches no file"):
        discover_sources([f"memory://{folder}/*.pdf"])
    with pytest.raises(NoInputError, match="no PDF found"):
        discover_sources([f"memory://{folder}"])


def test_list_file_mixes_paths_urls_and_comments(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "local.pdf").write_bytes(pdf_bytes("local"))
    (tmp_path / "docs" / "by-url.pdf").write_bytes(pdf_bytes("url"))
    (tmp_path / "shard.tar").write_bytes(tar_bytes(SHARD_MEMBERS))
    listing = tmp_path / "inputs.txt"
    listing.write_text(
        "# what this run reads\n"
        "docs/local.pdf\n"  # relative to the list's folder, not to the working directory
        "\n"
        f"file://{tmp_path}/docs/by-url.pdf\n"
        f"  {tmp_path}/*.tar  \n"
    )
    found = discover_sources([f"@{listing}"])
    assert found == [
        str(tmp_path / "docs" / "local.pdf"),
        str(tmp_path / "shard.tar"),
        f"file://{tmp_path}/docs/by-url.pdf",
    ]


def test_list_file_errors_name_the_list_and_line(tmp_path, memory_folder):
    listing = tmp_path / "inputs.txt"
    listing.write_text("# header\nmissing.pdf\n")
    with pytest.raises(NoInputError, match=r"'.*missing.pdf' is neither a file.*\(line 2 of list file"):
        discover_sources([f"@{listing}"])
    listing.write_text(f"@{tmp_path}/other.txt\n")
    with pytest.raises(NoInputError, match="lists do not nest"):
        discover_sources([f"@{listing}"])
    with pytest.raises(NoInputError, match="list file .* cannot be read: No such file"):
        discover_sources([f"@{tmp_path}/absent.txt"])

    fs, folder = memory_folder  # a list kept next to its data, in a bucket
    fs.pipe(f"/{folder}/lists/inputs.txt", b"../docs/a.pdf\n")
    fs.pipe(f"/{folder}/docs/a.pdf", pdf_bytes("listed"))
    [found] = discover_sources([f"@memory://{folder}/lists/inputs.txt"])
    assert found.startswith("memory://") and found.endswith(f"{folder}/docs/a.pdf")


def test_webdataset_shard_pairs_each_pdf_with_its_metadata(tmp_path):
    shard = tmp_path / "shard-000.tar"
    shard.write_bytes(tar_bytes(SHARD_MEMBERS))
    docs = read_all(str(shard))
    assert [d.path for d in docs] == [f"{shard}::{key}.pdf" for key in SAMPLES]
    assert [d.error for d in docs] == [None, None, None]
    assert [page_text(d.data) for d in docs] == list(SAMPLES.values())
    assert [d.metadata["url"] for d in docs] == [f"https://example.org/{k.split('/')[-1]}.pdf" for k in SAMPLES]
    assert {source_of(d.path) for d in docs} == {str(shard)}


def test_compressed_shard_is_read(tmp_path):
    shard = tmp_path / "shard.tar.gz"
    shard.write_bytes(gzip.compress(tar_bytes(SHARD_MEMBERS)))
    assert discover_sources([str(tmp_path)]) == [str(shard)]
    docs = read_all(str(shard))
    assert [(page_text(d.data), d.metadata["url"][-6:]) for d in docs] == [
        ("first sample", "s1.pdf"),
        ("second sample", "s2.pdf"),
        ("third sample", "s3.pdf"),
    ]


def member_offsets(data: bytes) -> list[tuple[int, int]]:
    """(header offset, data offset) of each member."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m.offset, m.offset_data) for m in tar.getmembers()]


@pytest.mark.parametrize(
    "cut, complete, metadata_of_s3",
    [
        pytest.param(lambda offsets: offsets[4][1] + 100, 4, None, id="inside a pdf"),
        pytest.param(lambda offsets: offsets[4][0], 4, None, id="at a member boundary"),
        pytest.param(lambda offsets: offsets[6][0] + 200, 6, {}, id="inside a header, metadata lost"),
    ],
)
def test_truncated_shard_yields_complete_samples_then_an_error(tmp_path, cut, complete, metadata_of_s3):
    data = tar_bytes(SHARD_MEMBERS)
    shard = tmp_path / "cut.tar"
    shard.write_bytes(data[: cut(member_offsets(data))])
    *docs, last = read_all(str(shard))
    expected = 2 if metadata_of_s3 is None else 3
    assert [page_text(d.data) for d in docs] == list(SAMPLES.values())[:expected]
    assert all(d.error is None for d in docs)
    assert [d.metadata for d in docs[2:]] == ([] if metadata_of_s3 is None else [metadata_of_s3])
    assert last.path == str(shard) and last.data is None
    assert last.error.kind == "bad_shard"
    assert last.error.reason.startswith(f"tar shard truncated after {complete} members: ")


def test_shard_is_read_as_a_stream(tmp_path):
    """The shard is cut on disk after the first document came out: a reader that had already loaded the
    whole shard would yield all of it; a streaming one meets the cut."""
    document = pdf_bytes("one of many")
    shard = tmp_path / "many.tar"
    shard.write_bytes(tar_bytes([(f"doc{i:03}.pdf", document) for i in range(300)]))
    documents = iter_documents(str(shard), max_bytes=MAX_BYTES)
    first = next(documents)
    assert first.path == f"{shard}::doc000.pdf" and page_text(first.data) == "one of many"
    os.truncate(shard, shard.stat().st_size // 2)
    *rest, last = documents
    assert last.error is not None and last.error.reason.startswith("tar shard truncated after")
    assert 0 < len(rest) < 299


def test_large_shards_are_not_held_in_memory(tmp_path):
    filler = bytes(2_000_000)
    fillers = [(f"f{i}.bin", filler) for i in range(10)]
    members = [("a.pdf", pdf_bytes("first")), *fillers, ("z.pdf", pdf_bytes("last"))]
    shard = tmp_path / "big.tar"
    shard.write_bytes(tar_bytes(members))
    tracemalloc.start()
    try:
        docs = read_all(str(shard))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [page_text(d.data) for d in docs] == ["first", "last"]
    assert peak < 2_000_000, f"{peak} bytes held while reading a {shard.stat().st_size} byte shard"


def test_oversized_metadata_rejects_its_document_without_being_read_whole(tmp_path):
    padding = "x" * (3 * MAX_METADATA_BYTES)
    members = [
        ("big.json", json.dumps({"url": "https://example.org/big.pdf", "pages": padding}).encode()),
        ("big.pdf", pdf_bytes("big metadata")),
        ("next.json", json.dumps({"url": "https://example.org/next.pdf"}).encode()),
        ("next.pdf", pdf_bytes("next")),
    ]
    shard = tmp_path / "metadata.tar"
    shard.write_bytes(tar_bytes(members))
    tracemalloc.start()
    try:
        big, following = read_all(str(shard))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    too_large = Failure("load", "invalid_metadata", "metadata big.json too large: 3.0 MB > 1.0 MB limit")
    assert (big.metadata, big.error) == ({}, too_large)
    assert following.error is None and following.metadata == {"url": "https://example.org/next.pdf"}
    assert peak < MAX_METADATA_BYTES, f"{peak} bytes held while skipping a 3 MB .json"


def test_too_large_files_are_reported_without_their_bytes(tmp_path, memory_folder):
    big = b"%PDF-1.4\n" + bytes(1_500_000)
    (tmp_path / "big.pdf").write_bytes(big)
    fs, folder = memory_folder
    fs.pipe(f"/{folder}/big.pdf", big)
    (tmp_path / "shard.tar").write_bytes(tar_bytes([("big.pdf", big), ("small.pdf", pdf_bytes("small"))]))

    too_large = Failure("load", "file_too_large", "file too large: 1.5 MB > 1.0 MB limit")
    for source in [str(tmp_path / "big.pdf"), f"memory://{folder}/big.pdf"]:
        assert read_all(source) == [SourceFile(source, None, {}, too_large)]
    too_big, small = read_all(str(tmp_path / "shard.tar"))
    assert (too_big.data, too_big.error) == (None, too_large)
    assert small.error is None and page_text(small.data) == "small"


def test_unreadable_sources_become_errors_not_exceptions(tmp_path):
    assert read_all(str(tmp_path / "gone.pdf")) == [
        SourceFile(str(tmp_path / "gone.pdf"), None, {}, Failure("load", "read_error", "cannot read file: No such file or directory"))
    ]
    (tmp_path / "fake.tar").write_bytes(pdf_bytes("not a tar"))
    [fake] = read_all(str(tmp_path / "fake.tar"))
    assert fake.error.kind == "bad_shard" and fake.error.reason.startswith("not a readable tar shard: ")

    (tmp_path / "bad.tar").write_bytes(tar_bytes([("a.pdf", pdf_bytes("a")), ("a.json", b"{not json")]))
    [bad] = read_all(str(tmp_path / "bad.tar"))
    assert bad.data is not None and bad.error.kind == "invalid_metadata"
    assert bad.error.reason.startswith("invalid metadata in a.json: ")

    (tmp_path / "empty.tar").write_bytes(tar_bytes([("a.txt", b"text only")]))
    [empty] = read_all(str(tmp_path / "empty.tar"))
    assert empty.error == Failure("load", "bad_shard", "tar shard has no .pdf member (members read: 1)")


def test_unknown_protocol_is_a_clear_error():
    with pytest.raises(NoInputError, match="input 'nosuch://x.pdf' cannot be opened: Protocol not known: nosuch"):
        discover_sources(["nosuch://x.pdf"])
    [doc] = read_all("nosuch://x.pdf")
    assert doc.error == Failure("load", "read_error", "cannot read file: Protocol not known: nosuch")


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed here")
def test_missing_filesystem_package_is_named():
    with pytest.raises(NoInputError, match="Install s3fs"):
        discover_sources(["s3://bucket/shards/"])


def test_source_of_names_the_input_unit():
    assert source_of("/data/a.pdf") == "/data/a.pdf"
    assert source_of("hf://datasets/org/pdfa/shard-7.tar::0001/ab.pdf") == "hf://datasets/org/pdfa/shard-7.tar"
    assert source_of("/data/shard.tar.gz::odd::name.pdf") == "/data/shard.tar.gz"
