"""Where PDFs come from: find the input units, then read each one's documents as a stream.

An input unit is one PDF or one tar shard. Discovery only lists units, which is cheap even for a bucket
of shards; a worker later expands each unit with `iter_documents`, reading a shard as a stream, so a
shard is never held in memory whole. A spec, as given by the user, is one of:

- a local file, folder (searched recursively for `*.pdf` and tar shards, case-insensitively) or glob;
- an fsspec URL (`file://`, `memory://`, `s3://`, `gs://`, `hf://`, `https://`...) naming a file, a
  "folder" or a glob; `s3://` needs `s3fs`, `gs://` needs `gcsfs`, and so on;
- `@list.txt` (a path or URL): one spec per line, `#` comment lines and blank lines ignored, relative
  paths taken from the list's folder; list files do not nest.

A tar shard is a webdataset: the members of one sample share a key (the member name up to the first dot
of its file name) and are adjacent, e.g. `doc7.pdf` and `doc7.json` (PDFA, as Docmatix read it). Each
`.pdf` member is one document, with the sample's `.json` as its metadata (a document whose `.json` is
invalid, or larger than `MAX_METADATA_BYTES`, is rejected with the reason); other members are ignored.
Shards may be compressed (`.tar.gz`, `.tgz`, `.tar.bz2`, `.tar.xz`).
"""

from __future__ import annotations

import glob
import json
import os
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import fsspec

from docqa.errors import UserError
from docqa.records import Failure
from docqa.runtime.faults import is_bug

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
# A sample's .json is parsed whole, on the loading worker rather than in the isolated document process, and
# is then copied into every row of its document (`source_metadata`). Larger is not metadata worth a copy
# per row, and a hostile shard could make it gigabytes: such a document is rejected, its .json not read.
MAX_METADATA_BYTES = 1_000_000
MEMBER_SEPARATOR = "::"  # "shard.tar::doc7.pdf" names a document inside a shard

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class NoInputError(UserError):
    """Nothing to process: the run stops here instead of "succeeding" on an empty corpus."""


@dataclass
class SourceFile:
    """One document read from an input unit: its bytes, or the reason it could not be read."""

    path: str  # the PDF, "shard.tar::member.pdf", or the shard itself for an error about the whole shard
    data: bytes | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # the sample's .json, for documents in a shard
    error: Failure | None = None  # why it could not be read (stage "load")


def discover_sources(specs: list[str]) -> list[str]:
    """The input units (PDFs and tar shards) named by `specs`, sorted and without repeats.

    Local units are absolute paths; remote ones keep their URL form, protocol included.
    """
    found: set[str] = set()
    for spec in specs:
        if spec.startswith("@"):
            found.update(_expand_list(spec[1:]))
        else:
            found.update(_expand(spec))
    if not found:
        raise NoInputError(f"no PDF found in {', '.join(map(repr, specs))}")
    return sorted(found)


def iter_documents(source: str, *, max_bytes: int) -> Iterator[SourceFile]:
    """The documents of one input unit. Failures are yielded as items with `error` set, never raised.

    A PDF larger than `max_bytes` (a shard member too) is reported without being read.
    """
    if is_tar(source):
        yield from _shard_documents(source, max_bytes)
    else:
        yield _read_pdf(source, max_bytes)


def source_of(path: str) -> str:
    """The input unit that the document `path` (from `SourceFile.path`) came from."""
    start = 0
    while (cut := path.find(MEMBER_SEPARATOR, start)) != -1:
        if is_tar(path[:cut]):
            return path[:cut]
        start = cut + len(MEMBER_SEPARATOR)
    return path


def is_url(spec: str) -> bool:
    """An fsspec URL (`s3://...`, `file://...`), not a local path."""
    return _URL.match(spec) is not None


def is_tar(path: str) -> bool:
    return path.lower().endswith(TAR_SUFFIXES)


def _is_unit(path: str) -> bool:
    return path.lower().endswith(".pdf") or is_tar(path)


def _expand(spec: str) -> set[str]:
    return _expand_url(spec) if is_url(spec) else _expand_local(spec)


def _expand_local(spec: str) -> set[str]:
    path = Path(spec).expanduser()
    if path.is_dir():
        # Not only regular files: a PDF that cannot be read (a dangling link) must end in the rejects with
        # its reason, not vanish from the run.
        found = {p for p in path.rglob("*") if _is_unit(p.name) and not p.is_dir()}
    elif path.is_file():
        found = {path}
    elif glob.has_magic(spec):
        matches = [Path(m) for m in glob.glob(str(path), recursive=True)]
        if not matches:
            raise NoInputError(f"input pattern {spec!r} matches no file")
        found = {p for p in matches if not p.is_dir()}
    else:
        raise NoInputError(f"input {spec!r} is neither a file, a folder nor a glob pattern that exists")
    return {str(p.resolve() if p.exists() else p.absolute()) for p in found}


def _expand_url(spec: str) -> set[str]:
    try:
        fs, path = fsspec.core.url_to_fs(spec)
    except (ImportError, ValueError) as exc:  # fsspec names the package to install, or the unknown protocol
        raise NoInputError(f"input {spec!r} cannot be opened: {exc}") from exc
    try:
        try:
            kind = fs.info(path)["type"]
        except FileNotFoundError:
            kind = None
        if kind == "directory":
            found = [p for p in fs.find(path) if _is_unit(p)]
        elif kind is not None:
            found = [path]
        elif glob.has_magic(path):
            matches = fs.glob(path, detail=True)
            if not matches:
                raise NoInputError(f"input pattern {spec!r} matches no file")
            found = [p for p, info in matches.items() if info["type"] != "directory"]
        else:
            raise NoInputError(f"input {spec!r} is neither a file, a folder nor a glob pattern that exists")
    except OSError as exc:  # credentials, permissions, network: say which input, and why
        raise NoInputError(f"input {spec!r} cannot be listed: {exc}") from exc
    return {fs.unstrip_protocol(p) for p in found}


def _expand_list(list_spec: str) -> set[str]:
    found: set[str] = set()
    for number, entry in _list_entries(list_spec):
        try:
            found.update(_expand(entry))
        except NoInputError as exc:
            raise NoInputError(f"{exc} (line {number} of list file {list_spec!r})") from exc
    return found


def _list_entries(list_spec: str) -> Iterator[tuple[int, str]]:
    """The specs a list file names, with their line numbers; relative ones taken from its folder."""
    try:
        with _open(list_spec)[0] as file:
            lines = file.read().decode("utf-8").splitlines()
    except (OSError, ImportError, ValueError) as exc:
        raise NoInputError(f"list file {list_spec!r} cannot be read: {_reason(exc)}") from exc
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith("@"):
            raise NoInputError(f"list file {list_spec!r} names another list on line {number}: lists do not nest")
        yield number, entry if is_url(entry) else _beside(list_spec, os.path.expanduser(entry))


def entry_roots(specs: list[str]) -> list[str]:
    """Each input entry in the form discovery gives its documents' paths (list files replaced by their
    entries; a glob by the folder before its first wildcard), so a document's path can be named
    relative to the entry it was found under."""
    roots = []
    for spec in specs:
        entries = [entry for _, entry in _list_entries(spec[1:])] if spec.startswith("@") else [spec]
        roots += [_root(entry) for entry in entries]
    return roots


def _root(spec: str) -> str:
    if is_url(spec):
        fs, path = fsspec.core.url_to_fs(spec)
        return fs.unstrip_protocol(_fixed_part(path))
    return str(Path(_fixed_part(os.path.expanduser(spec))).resolve())


def _fixed_part(path: str) -> str:
    """`path` up to the folder before its first wildcard (all of it when it has none)."""
    parts = path.split("/")
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return "/".join(parts[:fixed]) or "/"


def _beside(list_spec: str, entry: str) -> str:
    """`entry` taken from the folder of the list file `list_spec`; an absolute entry stays as it is."""
    if not is_url(list_spec):
        return os.path.join(os.path.dirname(os.path.expanduser(list_spec)), entry)
    protocol, _, path = list_spec.partition("://")
    if entry.startswith("/"):
        return entry
    return f"{protocol}://{posixpath.normpath(posixpath.join(posixpath.dirname(path), entry))}"


def _open(source: str) -> tuple[BinaryIO, int | None]:
    """`source` opened for reading, and its size where the filesystem knows it."""
    if not is_url(source):
        file = open(source, "rb")
        return file, os.fstat(file.fileno()).st_size
    fs, path = fsspec.core.url_to_fs(source)
    size = fs.size(path)
    return fs.open(path, "rb"), size


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) if isinstance(exc, (ImportError, ValueError)) else f"{type(exc).__name__}: {exc}"


def _too_large(size: int, max_bytes: int) -> Failure:
    return Failure("load", "file_too_large", f"file too large: {size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB limit")


def _unreadable(exc: BaseException) -> Failure:
    return Failure("load", "read_error", f"cannot read file: {_reason(exc)}")


def _read_pdf(source: str, max_bytes: int) -> SourceFile:
    try:
        file, size = _open(source)
        with file:
            if size is not None and size > max_bytes:
                return SourceFile(source, error=_too_large(size, max_bytes))
            data = file.read(max_bytes + 1)  # bounded even where the size was unknown
    except Exception as exc:  # remote filesystems raise more than OSError; the reason goes with the document
        if is_bug(exc):
            raise
        return SourceFile(source, error=_unreadable(exc))
    if len(data) > max_bytes:
        reason = f"file too large: more than the {max_bytes / 1e6:.1f} MB limit"
        return SourceFile(source, error=Failure("load", "file_too_large", reason))
    return SourceFile(source, data)


class _StrictTarInfo(tarfile.TarInfo):
    """Reads headers like TarInfo, but a missing, cut or garbled header is an error, not the end.

    tarfile takes those for the end of the archive, so a shard cut at a member boundary would look
    complete; only the two zero blocks that close an archive end it here.
    """

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        try:
            return super().frombuf(buf, encoding, errors)
        except tarfile.EOFHeaderError:
            raise
        except tarfile.HeaderError as exc:
            raise tarfile.ReadError(f"{exc} where a member or the end-of-archive marker should be") from None


def _sample_key(member_name: str) -> str:
    """The webdataset key: the member name up to the first dot of its file name."""
    folder, _, name = member_name.rpartition("/")
    return f"{folder}/{name.split('.', 1)[0]}" if folder else name.split(".", 1)[0]


def _parse_metadata(name: str, data: bytes) -> tuple[dict[str, Any], Failure | None]:
    try:
        metadata = json.loads(data)
    except ValueError as exc:
        return {}, Failure("load", "invalid_metadata", f"invalid metadata in {name}: {exc}")
    if not isinstance(metadata, dict):
        return {}, Failure("load", "invalid_metadata", f"invalid metadata in {name}: not a JSON object")
    return metadata, None


def _with_metadata(docs: list[SourceFile], metadata: tuple[dict[str, Any], Failure | None]) -> list[SourceFile]:
    for doc in docs:
        doc.metadata = dict(metadata[0])
        doc.error = doc.error or metadata[1]
    return docs


def _shard_documents(source: str, max_bytes: int) -> Iterator[SourceFile]:
    try:
        raw = _open(source)[0]
    except Exception as exc:
        if is_bug(exc):
            raise
        yield SourceFile(source, error=_unreadable(exc))
        return
    with raw:
        try:
            tar = tarfile.open(fileobj=raw, mode="r|*", tarinfo=_StrictTarInfo)
        except (tarfile.TarError, EOFError, OSError) as exc:
            yield SourceFile(source, error=Failure("load", "bad_shard", f"not a readable tar shard: {exc}"))
            return
        with tar:
            yield from _shard_samples(source, tar, max_bytes)


def _shard_samples(source: str, tar: tarfile.TarFile, max_bytes: int) -> Iterator[SourceFile]:
    # Only the current sample is held: its PDFs wait for its .json, unless the .json came first.
    no_metadata: tuple[dict[str, Any], Failure | None] = ({}, None)
    key = metadata = None
    waiting: list[SourceFile] = []
    complete = pdfs = 0  # members read to their end; .pdf members seen
    try:
        while (member := tar.next()) is not None:
            tar.members = []  # stream mode would keep every header it has read
            if (sample := _sample_key(member.name)) != key:
                yield from _with_metadata(waiting, no_metadata)
                key, metadata, waiting = sample, None, []
            file = tar.extractfile(member) if member.isfile() else None
            extension = member.name.lower().rpartition(".")[2] if file else None
            if extension == "pdf":
                pdfs += 1
                path = f"{source}{MEMBER_SEPARATOR}{member.name}"
                if member.size > max_bytes:
                    _drain(file)
                    waiting.append(SourceFile(path, error=_too_large(member.size, max_bytes)))
                else:
                    waiting.append(SourceFile(path, file.read()))
            elif extension == "json" and member.size > MAX_METADATA_BYTES:
                _drain(file)
                limit = f"{member.size / 1e6:.1f} MB > {MAX_METADATA_BYTES / 1e6:.1f} MB limit"
                metadata = {}, Failure("load", "invalid_metadata", f"metadata {member.name} too large: {limit}")
            elif extension == "json":
                metadata = _parse_metadata(member.name, file.read())
            elif file:
                _drain(file)  # read here, not skipped by tarfile, so that `complete` is exact
            complete += 1
            if metadata is not None:
                yield from _with_metadata(waiting, metadata)
                waiting = []
    except (tarfile.TarError, EOFError, OSError) as exc:  # zlib, bz2 and lzma errors arrive as these
        yield from _with_metadata(waiting, no_metadata)
        reason = f"tar shard truncated after {complete} members: {exc}"
        yield SourceFile(source, error=Failure("load", "bad_shard", reason))
        return
    yield from _with_metadata(waiting, no_metadata)
    if pdfs == 0:
        reason = f"tar shard has no .pdf member (members read: {complete})"
        yield SourceFile(source, error=Failure("load", "bad_shard", reason))


def _drain(file: BinaryIO) -> None:
    while file.read(1 << 16):
        pass
