"""Reading the evaluation sets a user holds: which files, which columns, what each row shows and asks.

An eval set is a Parquet file, a folder of Parquet or Arrow files as the Hub and `datasets.save_to_disk`
lay them out, or a glob pattern of such files (`DocVQA/test-*.parquet`: one split of a folder holding
several), read in name order. Each row gives images and questions:

- images: the column `image` or `images` (else the only column of images) holding one image or a list of
  them, each a `{bytes, path}` struct (the `datasets` Image feature) or raw bytes;
- questions: the column `question`, `query`, `questions`, `queries` or `texts` holding a string, a list of
  strings, or a list of structs with a `user`, `question` or `query` field (Docmatix's `texts`).

Another shape, or a path that is not there, is an `EvalSetError`: one line, before any work.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import json
from collections.abc import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from docqa.errors import UserError

IMAGE_COLUMNS = ("image", "images")
QUESTION_COLUMNS = ("question", "query", "questions", "queries", "texts")
QUESTION_FIELDS = ("user", "question", "query")
SUFFIXES = (".parquet", ".arrow")


class EvalSetError(UserError):
    """An eval set is missing or not in a shape that can be read."""



def _files(name: str) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    try:
        fs, path = fsspec.core.url_to_fs(name)
        if glob.has_magic(path):  # one split of a folder that holds several: DocVQA/test-*.parquet
            files = sorted(p for p in fs.glob(path) if p.endswith(SUFFIXES))
            if not files:
                raise EvalSetError(f"eval set {name}: no .parquet or .arrow file matches")
        elif fs.isdir(path):
            files = sorted(p for p in fs.find(path) if p.endswith(SUFFIXES))
        elif fs.isfile(path):
            files = [path] if path.endswith(SUFFIXES) else []
        else:
            raise EvalSetError(f"eval set {name}: no such file or folder")
    except (ImportError, ValueError, OSError) as exc:
        raise EvalSetError(f"eval set {name}: cannot be read ({type(exc).__name__}: {exc})") from None
    if not files:
        raise EvalSetError(f"eval set {name}: not a .parquet or .arrow file, nor a folder holding any")
    return fs, files


def _holds_images(t: pa.DataType) -> bool:
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        t = t.value_type
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or (pa.types.is_struct(t) and t.get_field_index("bytes") >= 0)


def _holds_questions(t: pa.DataType) -> bool:
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        t = t.value_type
    if pa.types.is_struct(t):
        return any(t.get_field_index(f) >= 0 for f in QUESTION_FIELDS)
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _columns(name: str, schema: pa.Schema) -> tuple[str, str]:
    images = [c for c in IMAGE_COLUMNS if c in schema.names] or [f.name for f in schema if _holds_images(f.type)]
    if len(images) != 1 or not _holds_images(schema.field(images[0]).type):
        raise EvalSetError(
            f"eval set {name}: no single column of images (`image` or `images`: {{bytes, path}} structs or raw "
            f"bytes, or lists of them) among {schema.names}"
        )
    questions = [c for c in QUESTION_COLUMNS if c in schema.names and _holds_questions(schema.field(c).type)]
    if not questions:
        raise EvalSetError(
            f"eval set {name}: no column of questions (one of {', '.join(QUESTION_COLUMNS)}: strings, lists of "
            f"strings, or lists of structs with a {'/'.join(QUESTION_FIELDS)} field) among {schema.names}"
        )
    return images[0], questions[0]


def _values(name: str, fs: fsspec.AbstractFileSystem, file: str) -> Iterator[tuple[object, object]]:
    """(images, questions) as stored in each row of one file."""
    try:
        with fs.open(file, "rb") as f:
            if file.endswith(".parquet"):
                reader = pq.ParquetFile(f)
                images, questions = _columns(name, reader.schema_arrow)
                batches = reader.iter_batches(batch_size=64, columns=[images, questions])
            else:
                stream = pa.ipc.open_stream(f)  # `datasets.save_to_disk` writes Arrow streams
                images, questions = _columns(name, stream.schema)
                batches = iter(stream)
            for batch in batches:
                yield from zip(batch.column(images).to_pylist(), batch.column(questions).to_pylist())
    except (OSError, pa.ArrowException) as exc:
        raise EvalSetError(f"eval set {name}: {file} cannot be read ({type(exc).__name__}: {exc})") from None


def _image_bytes(name: str, row: int, value) -> list[bytes]:
    values = value if isinstance(value, list) else [value]
    out = []
    for image in values:
        if isinstance(image, dict):
            if image.get("bytes") is None and image.get("path"):
                raise EvalSetError(
                    f"eval set {name}: row {row} refers to image {image['path']!r} instead of holding its bytes; "
                    "give a copy with the images embedded (as the Hub's Parquet files have them)"
                )
            image = image.get("bytes")
        if image:
            out.append(image)
    return out


def _question_texts(value) -> list[str]:
    values = value if isinstance(value, list) else [value]
    texts = []
    for item in values:
        if isinstance(item, dict):
            item = next((item[f] for f in QUESTION_FIELDS if item.get(f)), None)
        if item:
            texts.append(item)
    return texts


def read_eval_set(name: str) -> Iterator[tuple[int, list[bytes], list[str]]]:
    """(row, image bytes, questions) for each row, rows numbered across the files in name order."""
    fs, files = _files(name)
    row = 0
    for file in files:
        for images, questions in _values(name, fs, file):
            yield row, _image_bytes(name, row, images), _question_texts(questions)
            row += 1


@functools.cache
def _content_hash(name: str, fingerprint: str, salt: str) -> str:
    """Hash of the files' bytes, computed once per process for each version (`fingerprint`) of them."""
    fs, files = _files(name)
    digest = hashlib.sha256(salt.encode())
    for file in files:
        digest.update(file.rsplit("/", 1)[-1].encode() + b"\0")
        with fs.open(file, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()[:32]


def content_hash(name: str, salt: str) -> str:
    """Hash of `salt` and the eval set's files (names and bytes); reading them only when they changed."""
    fs, files = _files(name)
    return _content_hash(name, json.dumps([fs.info(f) for f in files], sort_keys=True, default=str), salt)
