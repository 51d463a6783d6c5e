"""Publishing a built dataset folder: in place of a local folder, or uploaded to an fsspec URL.

Both put the new dataset where the old one was without a moment in which a reader sees a mix: a local
folder is swapped in by renames; an upload sends the new files first, removes the old files the new
build does not have, and writes the card last.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import fsspec
from tqdm import tqdm

from docqa.errors import UserError


class OutputError(UserError):
    """The output URL cannot be opened: a filesystem package is missing or the protocol is unknown."""


def output_filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:  # fsspec names the package to install, or the unknown protocol
        raise OutputError(f"output {url!r} cannot be opened: {exc}") from exc
    return fs, root.rstrip("/")


def replace_folder(built: Path, out_dir: Path) -> None:
    """Move the finished build to `out_dir`, the earlier dataset there set aside first and removed last."""
    previous = out_dir.with_name(f".{out_dir.name}.previous")
    if previous.exists():
        shutil.rmtree(previous)
    if out_dir.exists():
        out_dir.rename(previous)
    built.rename(out_dir)
    if previous.exists():
        shutil.rmtree(previous)


def upload(folder: Path, url: str) -> None:
    """Copy a built dataset to an fsspec URL in place of what was there: the new files first, then the old
    ones it no longer has (shards of an earlier, larger run) are removed, and the card goes last."""
    fs, root = output_filesystem(url)
    files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
    before = {path[len(root) + 1 :] for path in fs.find(root)} if fs.exists(root) else set()
    card = files.pop("README.md", None)
    for name, path in tqdm(files.items(), desc=f"uploading to {url}", unit="file"):
        fs.makedirs(f"{root}/{name}".rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(path), f"{root}/{name}")
    stale = sorted(before - set(files) - {"README.md"})
    if stale:
        fs.rm([f"{root}/{name}" for name in stale])
    if card is not None:
        fs.put_file(str(card), f"{root}/README.md")
