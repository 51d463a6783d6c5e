"""Publishing a built dataset under one policy: in place of a local folder, uploaded to an fsspec URL, or
pushed to the Hub (`docqa.output.hub`).

Every dataset the pipeline writes carries a manifest, `.docqa-manifest.json`: the files that run wrote
(relative path and size) and the pipeline's version. It is a hidden file, so `datasets.load_dataset` and
the Hub's viewer pass it by. The policy, given what is at the destination and the new build:

- The destination must be missing, empty, or a dataset this pipeline wrote: one with a manifest, or the
  output of a version before manifests (stats.json, config.yaml and README.md together, and otherwise
  only files under data/, rejects/, dropped/ and report/). Anything else (a file, a folder holding other
  files) is refused; `overwrite` lets a folder be replaced whole.
- The new files go first; then the files the previous manifest lists (or, for an earlier version's
  output, the files of its layout) that the new build lacks are removed; the card (README.md) goes last.
- A file the pipeline did not write that sits in its dataset is kept where it is, never deleted; a new
  file of the same name is refused rather than written over it.

A local folder is swapped in by renames, so no reader sees a mix: the old dataset is set aside in
`.<name>.previous`, the build (`.<name>.partial`) renamed into place, the kept files moved across. An
upload first writes a manifest naming every file the pipeline has written there, old and new, so that
one cut short leaves nothing it cannot later recognise. The folders beside the output
(`.<name>.partial`, `.<name>.previous`, `.<name>.work`) carry a mark file from their creation, and a
folder of one of those names without it is never removed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import fsspec
from tqdm import tqdm

from docqa.errors import UserError
from docqa.ingest.sources import is_url

MANIFEST = ".docqa-manifest.json"
MARK = ".docqa-owned"  # in a folder beside the output: the pipeline made it and may remove it
CARD = "README.md"
RUN_FOLDERS = ("data", "rejects", "dropped", "report")
EARLIER_LAYOUT = {"stats.json", "config.yaml", CARD}  # the files every earlier version's output held
WAY_OUT = "choose another --output, or pass --overwrite to replace the folder"


class OutputError(UserError):
    """The output cannot be written: a filesystem package is missing, the protocol is unknown, or it is refused."""


class OutputRefused(OutputError):
    """Writing the output would destroy what the pipeline did not write; the message names the way out."""


def output_filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:  # fsspec names the package to install, or the unknown protocol
        raise OutputError(f"output {url!r} cannot be opened: {exc}") from exc
    return fs, root.rstrip("/")


def sibling(output: Path, role: str) -> Path:
    """The folder beside `output` for one role: `partial` (the build), `previous` (set aside while
    publishing), `work` (committed work units)."""
    return output.with_name(f".{output.name}.{role}")


def check_owned(folder: Path) -> None:
    """Refuse a folder that is there without the pipeline's mark: it is not the pipeline's to remove."""
    if (folder.exists() or folder.is_symlink()) and not (folder / MARK).is_file():
        raise OutputRefused(
            f"{folder} is in the way and docqa did not make it: move it away, or choose another --output"
        )


def mark(folder: Path) -> None:
    (folder / MARK).write_text("made by docqa, which removes this folder when it is done with it\n")


def make_owned(folder: Path) -> Path:
    """Create `folder` (and its parents) with the mark that lets a later run remove it."""
    check_owned(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mark(folder)
    return folder


def remove_owned(folder: Path) -> None:
    """Remove `folder` if it is there and carries the mark; refuse if it is there without it."""
    check_owned(folder)
    shutil.rmtree(folder, ignore_errors=not folder.exists())


def manifest_text(files: dict[str, int]) -> str:
    try:
        docqa_version = version("docqa-pipeline")
    except PackageNotFoundError:  # run from a checkout that was never installed: the manifest still matters more
        docqa_version = "unknown"
    return json.dumps({"docqa_version": docqa_version, "files": dict(sorted(files.items()))}, indent=1) + "\n"


def listed_files(manifest: str | None) -> dict[str, int] | None:
    """The files a manifest lists, or None when there is none or it cannot be read as one."""
    try:
        files = json.loads(manifest)["files"] if manifest is not None else None
    except (ValueError, TypeError, KeyError):
        return None
    return files if isinstance(files, dict) else None


def content(listing: dict[str, int]) -> dict[str, int]:
    """A folder's files but the pipeline's bookkeeping (its manifest and mark)."""
    return {name: size for name, size in listing.items() if name not in (MANIFEST, MARK)}


def write_manifest(folder: Path) -> None:
    """List every file of the built dataset in `folder` in its manifest."""
    (folder / MANIFEST).write_text(manifest_text(content(folder_listing(folder))))


@dataclass
class Build:
    """A built dataset folder: its files by relative path (with sizes) and the manifest naming them."""

    folder: Path
    files: dict[str, int]
    manifest: str


def read_build(folder: Path) -> Build:
    """The dataset in `folder`; an earlier version's output gets a manifest made for it (not written there)."""
    listing, manifest = local_state(folder)
    listing = listing or {}
    files = listed_files(manifest)
    if files is None:
        files = content(listing)
        if not is_earlier_output(files):
            raise OutputError(
                f"{folder} is not a dataset docqa wrote (no readable {MANIFEST}): give a run's output folder"
            )
        manifest = manifest_text(files)
    missing = sorted(name for name in files if name not in listing)
    if missing:
        raise OutputError(
            f"{folder} lacks {missing[0]}, which its manifest lists: rerun `make dataset` to write it whole"
        )
    return Build(folder, files, manifest)


@dataclass
class Previous:
    """What is at a destination: the files the pipeline wrote there, and those it did not, which stay."""

    owned: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)


def is_earlier_output(files: dict[str, int]) -> bool:
    """The output of a version before manifests: its three files, and otherwise only its four folders."""
    rest = set(files) - EARLIER_LAYOUT
    return EARLIER_LAYOUT <= set(files) and all(name.split("/")[0] in RUN_FOLDERS for name in rest)


def previous_dataset(listing: dict[str, int], manifest: str | None) -> Previous | None:
    """Split a destination's files (its manifest and mark left out) into the pipeline's and the rest;
    None when it is not a dataset this pipeline wrote."""
    listed = listed_files(manifest)
    if listed is not None:
        return Previous(
            {n: s for n, s in listing.items() if n in listed}, {n: s for n, s in listing.items() if n not in listed}
        )
    return Previous(dict(listing)) if not listing or is_earlier_output(listing) else None


def check_destination(
    where: str, listing: dict[str, int] | None, manifest: str | None, overwrite: bool, way_out: str = WAY_OUT
) -> Previous:
    """What is at `where`, or OutputRefused when it is not a dataset this pipeline wrote and may not be
    replaced. `listing` is None when `where` is not a folder; with `overwrite`, a folder is replaced whole."""
    if listing is None:
        raise OutputRefused(f"{where} is not a folder (a file or a link): choose another --output")
    files = content(listing)
    previous = previous_dataset(files, manifest)
    if previous is not None:
        return previous
    if overwrite:
        return Previous(files)
    some = ", ".join(sorted(files)[:3]) + (", ..." if len(files) > 3 else "")
    raise OutputRefused(f"{where} holds {len(files)} file(s) docqa did not write ({some}): {way_out}")


@dataclass
class Publication:
    """What publishing a build at a destination does, in this order: write `claim` (a manifest naming every
    file the pipeline has written there, old and new), send `put`, remove `remove`, write `manifest`, then
    the card."""

    claim: str
    put: list[str]
    remove: list[str]
    manifest: str


def plan_publication(where: str, previous: Previous, build: Build) -> Publication:
    """The one policy: new files first, then the previous run's files the build lacks, the card last;
    what the pipeline did not write is kept, and a new file that would replace it is refused."""
    clash = sorted(set(previous.kept) & set(build.files))
    if clash:
        raise OutputRefused(
            f"{where}/{clash[0]} was not written by docqa and the new dataset has a file of that name: "
            "move it away, then run again"
        )
    remove = sorted(set(previous.owned) - set(build.files))
    put = [name for name in sorted(build.files) if name != CARD]
    claim = manifest_text({**previous.owned, **build.files})
    return Publication(claim, put, remove, build.manifest)


def folder_listing(folder: Path) -> dict[str, int] | None:
    """The files under `folder` by relative path, with sizes (a link counts as a file, never followed);
    {} when it does not exist, None when it is not a folder."""
    if not folder.exists() and not folder.is_symlink():
        return {}
    if folder.is_symlink() or not folder.is_dir():
        return None
    files = {}
    for top, folders, names in os.walk(folder):
        for name in names + [f for f in folders if Path(top, f).is_symlink()]:
            path = Path(top, name)
            files[path.relative_to(folder).as_posix()] = path.lstat().st_size
    return files


def local_state(folder: Path) -> tuple[dict[str, int] | None, str | None]:
    """A local folder's listing (see `folder_listing`) and its manifest's text if it has one."""
    listing = folder_listing(folder)
    return listing, (folder / MANIFEST).read_text() if listing and MANIFEST in listing else None


def local_destination(folder: Path, overwrite: bool) -> Previous:
    return check_destination(str(folder), *local_state(folder), overwrite)


def publish_folder(built: Path, out: Path, overwrite: bool = False) -> None:
    """Put the build (a folder with its manifest) at `out` by renames: the dataset there before is set
    aside, the build takes its place, the files the pipeline did not write are moved across, and the
    rest of the old dataset is removed."""
    previous_dir = sibling(out, "previous")
    if previous_dir.exists():
        settle(previous_dir, out, overwrite)
    previous = local_destination(out, overwrite)
    plan_publication(str(out), previous, read_build(built))  # refuses before anything moves
    if out.exists():
        mark(out)  # marked before the rename, so a `.previous` without the mark was never docqa's
        out.rename(previous_dir)
    built.rename(out)
    (out / MARK).unlink()
    retire(previous_dir, out, previous)


def settle(previous_dir: Path, out: Path, overwrite: bool) -> None:
    """Finish what a publish cut short left in `.<name>.previous`: put it back if the build never took its
    place, else retire it as the publish would have."""
    check_owned(previous_dir)
    if not out.exists():
        previous_dir.rename(out)
        (out / MARK).unlink()
        return
    listing, manifest = local_state(previous_dir)
    files = content(listing or {})
    # a folder docqa did not write was set aside by a run told to overwrite it: deleted only if this one is too
    found = previous_dataset(files, manifest) or (Previous(files) if overwrite else Previous(kept=files))
    retire(previous_dir, out, found)


def retire(folder: Path, keep_in: Path | None, previous: Previous) -> None:
    """Remove the pipeline's files from `folder`, which then goes if empty; the files it did not write are
    moved to `keep_in`, or left where they are."""
    for name in previous.kept if keep_in is not None else ():
        (keep_in / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).rename(keep_in / name)
    for name in [*previous.owned, MANIFEST, MARK]:
        (folder / name).unlink(missing_ok=True)
    for top, _, _ in sorted(os.walk(folder), reverse=True):  # deepest first
        if not any(Path(top).iterdir()):
            Path(top).rmdir()


def remove_dataset(folder: Path) -> None:
    """Remove the dataset the pipeline wrote in `folder`; files it did not write stay."""
    retire(folder, None, local_destination(folder, overwrite=False))


def remote_destination(fs: fsspec.AbstractFileSystem, root: str) -> tuple[dict[str, int] | None, str | None]:
    """What is at an fsspec URL: its files by relative path with sizes (None when it is a file), and the
    manifest's text if there is one."""
    if not fs.exists(root):
        return {}, None
    if not fs.isdir(root):
        return None, None
    listing = {path[len(root) + 1 :]: info["size"] for path, info in fs.find(root, detail=True).items()}
    return listing, fs.cat_file(f"{root}/{MANIFEST}").decode() if MANIFEST in listing else None


def upload(folder: Path, url: str, overwrite: bool = False) -> None:
    """Copy a built dataset to an fsspec URL in place of the dataset there: the new files first, then the
    files of the earlier run it no longer has (shards of a larger run) are removed, the card last."""
    fs, root = output_filesystem(url)
    build = read_build(folder)
    listing, manifest = remote_destination(fs, root)
    publication = plan_publication(url, check_destination(url, listing, manifest, overwrite), build)
    fs.makedirs(root, exist_ok=True)
    fs.pipe_file(f"{root}/{MANIFEST}", publication.claim.encode())
    for name in tqdm(publication.put, desc=f"uploading to {url}", unit="file"):
        fs.makedirs(f"{root}/{name}".rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(folder / name), f"{root}/{name}")
    if publication.remove:
        fs.rm([f"{root}/{name}" for name in publication.remove])
    fs.pipe_file(f"{root}/{MANIFEST}", publication.manifest.encode())
    fs.put_file(str(folder / CARD), f"{root}/{CARD}")


def check_output(output: str, build_dir: Path, protected: list[tuple[str, str]], overwrite: bool) -> None:
    """Refuse, before any work, an output that would destroy what the pipeline did not write: one of
    `protected` (path, what it is) or a folder above one, the home folder, the working folder or `/` (even
    with `overwrite`); a destination that is not a dataset this pipeline wrote (unless `overwrite`); a
    folder beside the build named like the pipeline's but without its mark."""

    def where(path: str) -> str:  # a local path resolved; file:// is one too; other URLs as they are
        path = path.removeprefix("file://")
        return path.rstrip("/") if is_url(path) else str(Path(path).expanduser().resolve())

    everywhere = [("~", "your home folder"), (os.getcwd(), "the working folder"), ("/", "the root folder")]
    guarded = [(where(path), what) for path, what in [*protected, *everywhere]]
    target = where(output)
    for path, what in sorted(guarded, key=lambda pair: pair[0] != target):  # the output itself named first
        if path == target or path.startswith(target.rstrip("/") + "/"):
            held = f"is {what}" if path == target else f"holds {what} ({path})"
            raise OutputRefused(f"{output} {held}: choose another --output (--overwrite does not apply)")
    if is_url(output):
        check_destination(output, *remote_destination(*output_filesystem(output)), overwrite)
    else:
        local_destination(build_dir, overwrite)
    for role in ("partial", "previous", "work"):
        check_owned(sibling(build_dir, role))
