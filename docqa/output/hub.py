"""Publish an output folder to the Hugging Face Hub as a dataset repo, resumably.

`push_dataset` creates the repo if needed (private unless told otherwise), lists what the repo already
holds at the revision, and uploads the rest of the folder in commits of at most `batch_files` files. A file
already there with the same content (same sha256 for an LFS file, same git blob id for a small one) is
skipped, so an interrupted push is finished by running it again, and a committed file is never sent twice.
README.md, the card that declares the splits, goes in the last commit: a half-pushed repo never advertises
shards it lacks. What is pushed, deleted and refused follows the publish policy of `docqa.output.publish`:
the files the folder's manifest lists are pushed with it; of the repo's files, only those its manifest
lists (an earlier push) that the folder lacks, such as the shards of an earlier run, are deleted, just
before the card lands; files someone else put in the repo stay; a repo that holds files but no dataset
of this pipeline is refused unless `overwrite`. A push of more than one commit starts with a manifest
naming every file it is about to add, so an interrupted push is recognised, and resumed, as the
pipeline's.

The token comes from the caller, HF_TOKEN or `hf auth login`; it goes to huggingface_hub and nowhere else:
not printed, not logged, not in an error.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import validate_repo_id

from docqa.output.publish import (
    CARD,
    MANIFEST,
    Build,
    OutputError,
    Publication,
    check_destination,
    plan_publication,
    read_build,
)

HUB_OWN = ".gitattributes"  # every repo starts with it: the Hub's, not a file the pipeline did or did not write
LOGIN_HINT = "set HF_TOKEN to a token with write access, or run `hf auth login`"


class PushError(Exception):
    """A push that cannot start or go on; the message says what to do, in one line."""


class PushInterrupted(PushError):
    """A push that stopped partway: running it again resumes it."""


@dataclass
class PushResult:
    url: str
    commit: str  # the revision's head once pushed
    uploaded: list[str]
    unchanged: list[str]
    deleted: list[str]


def push_dataset(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = True,
    token: str | None = None,
    revision: str = "main",
    batch_files: int = 50,
    endpoint: str | None = None,
    log: Callable[[str], None] = print,
    overwrite: bool = False,
) -> PushResult:
    """Push `folder` (a run's output) to the dataset repo `repo_id` at branch `revision`.

    `private` applies when the repo is created; an existing repo keeps its visibility. `endpoint` defaults
    to HF_ENDPOINT (the Hub). `log` gets one line for the plan and one per commit. `overwrite` lets the push
    replace a repo holding files this pipeline did not push.
    """
    folder = Path(folder)
    build = folder_files(folder)
    check_repo_id(repo_id)
    if not 1 <= batch_files < 100:
        raise PushError(f"batch_files must be from 1 to 99, not {batch_files}: the Hub takes fewer than 100 a commit")
    token = token or get_token()
    if not token:
        raise PushError(f"no Hugging Face token: {LOGIN_HINT}")
    api = HfApi(endpoint=endpoint, token=token)
    done, commits = 0, []
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision != "main":
            api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
        info = api.repo_info(repo_id, repo_type="dataset", revision=revision)
        if info.private != private:
            log(f"note: {repo_id} already exists and is {'private' if info.private else 'public'}; it stays so")
        head = info.sha
        remote, publication = publication_for(api, repo_id, revision, head, build, overwrite)
        upload, delete, commits = plan_commits(build, publication, remote, batch_files)
        total = len(build.files) + 1  # and the manifest
        log(
            f"{repo_id}@{revision}: {total - len(upload)} of {total} files already there; "
            f"{len(upload)} to upload, {len(delete)} to delete, in {len(commits)} commit(s)"
        )
        for operations in commits:
            head = api.create_commit(
                repo_id,
                operations,
                commit_message=f"Upload {folder.name} ({done + 1}/{len(commits)})",
                repo_type="dataset",
                revision=revision,
                parent_commit=head,  # fails, rather than mixes, if someone else commits meanwhile
            ).oid
            done += 1
            log(f"commit {done}/{len(commits)}: {describe(operations)} -> {head[:10]}")
    except (httpx2.HTTPError, RuntimeError) as exc:
        progress = f"after {done} of {len(commits)} commits" if done else "before any commit"
        error = hub_failure(exc, repo_id, revision, progress)
        if error is None:
            raise
        raise error from exc
    url = f"{api.endpoint}/datasets/{repo_id}" + (f"/tree/{revision}" if revision != "main" else "")
    unchanged = [name for name in [*build.files, MANIFEST] if name not in upload]
    return PushResult(url, head, list(upload), unchanged, delete)


def publication_for(
    api: HfApi, repo_id: str, revision: str, head: str, build: Build, overwrite: bool
) -> tuple[dict[str, RepoFile], Publication]:
    """The repo's files at `head` and what pushing `build` over them does, by the publish policy."""
    tree = api.list_repo_tree(repo_id, recursive=True, revision=head, repo_type="dataset")
    remote = {f.path: f for f in tree if isinstance(f, RepoFile) and f.path != HUB_OWN}
    manifest = None
    if MANIFEST in remote:
        with tempfile.TemporaryDirectory() as scratch:
            path = api.hf_hub_download(repo_id, MANIFEST, repo_type="dataset", revision=head, local_dir=scratch)
            manifest = Path(path).read_text()
    listing = {path: file.size for path, file in remote.items()}
    way_out = "choose another repo, or pass --overwrite to replace it"
    try:
        previous = check_destination(f"{repo_id}@{revision}", listing, manifest, overwrite, way_out)
        return remote, plan_publication(repo_id, previous, build)
    except OutputError as exc:
        raise PushError(str(exc)) from exc


def plan_commits(
    build: Build, publication: Publication, remote: dict[str, RepoFile], batch_files: int
) -> tuple[dict[str, Path | bytes], list[str], list[list[CommitOperationAdd | CommitOperationDelete]]]:
    """The files to upload (those the repo lacks or holds with other content), the stale files to delete,
    and the commits that do it, in the publication's order: uploads, deletions, the manifest, the card.
    When that takes more than one commit, the first starts with the publication's claim, unless the repo
    holds it already (a resumed push)."""
    wanted: dict[str, Path | bytes] = {name: build.folder / name for name in publication.put}
    wanted |= {MANIFEST: publication.manifest.encode(), CARD: build.folder / CARD}
    upload = {name: source for name, source in wanted.items() if not is_same(source, remote.get(name))}
    operations = [CommitOperationAdd(name, source) for name, source in upload.items() if name not in (MANIFEST, CARD)]
    operations += [CommitOperationDelete(path) for path in publication.remove]
    operations += [CommitOperationAdd(name, upload[name]) for name in (MANIFEST, CARD) if name in upload]
    claim = publication.claim.encode()
    if len(operations) > batch_files and not is_same(claim, remote.get(MANIFEST)):
        operations.insert(0, CommitOperationAdd(MANIFEST, claim))
    return upload, publication.remove, [operations[i : i + batch_files] for i in range(0, len(operations), batch_files)]


def folder_files(folder: Path) -> Build:
    """The dataset in a run's output folder: the files its manifest lists, and the manifest."""
    if not folder.is_dir():
        raise PushError(f"no folder {folder}: give the output folder of a run (`make dataset` writes out/dataset)")
    if not any((folder / "data").glob("*.parquet")):
        raise PushError(f"{folder} has no data/*.parquet shards: give a run's output folder, or run `make dataset`")
    if not (folder / CARD).is_file():
        raise PushError(f"{folder} has no README.md (the dataset card): rerun `make dataset` to write it whole")
    try:
        return read_build(folder)
    except OutputError as exc:
        raise PushError(str(exc)) from exc


def check_repo_id(repo_id: str) -> None:
    try:
        validate_repo_id(repo_id)
        valid = repo_id.count("/") == 1
    except HFValidationError:
        valid = False
    if not valid:
        raise PushError(
            f"bad repo id {repo_id!r}: use <user or org>/<name>, e.g. alice/docqa "
            "(letters, digits, '-', '_' and '.', at most 96 characters)"
        )


def is_same(local: Path | bytes, remote: RepoFile | None) -> bool:
    """Whether the repo's file has `local`'s content: same sha256 for an LFS file, same git blob id otherwise."""
    size = len(local) if isinstance(local, bytes) else local.stat().st_size
    if remote is None or remote.size != size:
        return False
    if remote.lfs is not None:  # files stored with Xet are listed with their LFS sha256 too
        return remote.lfs.sha256 == digest(local, hashlib.sha256())
    return remote.blob_id == digest(local, hashlib.sha1(b"blob %d\0" % size))


def digest(source: Path | bytes, hasher) -> str:
    if isinstance(source, bytes):
        hasher.update(source)
    else:
        with open(source, "rb") as file:
            while chunk := file.read(1 << 20):
                hasher.update(chunk)
    return hasher.hexdigest()


def describe(operations: list[CommitOperationAdd | CommitOperationDelete]) -> str:
    added = [op for op in operations if isinstance(op, CommitOperationAdd)]
    size = sum(op.upload_info.size for op in added)
    deleted = len(operations) - len(added)
    text = f"{len(added)} file(s), " + (f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB")
    return text + (f", {deleted} deleted" if deleted else "")


def hub_failure(exc: Exception, repo_id: str, revision: str, progress: str) -> PushError | None:
    """What a failed Hub call means for the user, or None when it is not a Hub or network failure."""
    while isinstance(exc, RuntimeError) and exc.__cause__ is not None:  # huggingface_hub wraps upload errors
        exc = exc.__cause__
    if not isinstance(exc, httpx2.HTTPError):
        return None
    status = exc.response.status_code if isinstance(exc, HfHubHTTPError) and exc.response is not None else None
    if isinstance(exc, RepositoryNotFoundError):
        return PushError(f"{repo_id} cannot be found with this token (HTTP {status}): check the id, and {LOGIN_HINT}")
    if isinstance(exc, RevisionNotFoundError):
        return PushError(f"no revision {revision!r} in {repo_id}: give a branch name (it is created if missing)")
    if status == 401:
        return PushError(f"the Hub refused the token (HTTP 401): {LOGIN_HINT}")
    if status == 403:
        return PushError(f"the token may not write to {repo_id} (HTTP 403): {LOGIN_HINT} for its namespace")
    resume = "run the same command again to resume; files already committed are not sent again"
    if status in (409, 412):
        return PushInterrupted(f"{repo_id}@{revision} changed during the push {progress} (another commit): {resume}")
    if status is not None and status < 500 and status not in (408, 429):  # not worth retrying as it is
        said = (exc.server_message or "").strip().splitlines()
        return PushError(f"the Hub refused the push {progress} (HTTP {status}{': ' + said[0] if said else ''})")
    reason = f"HTTP {status}" if status else type(exc).__name__
    return PushInterrupted(f"push to {repo_id} interrupted {progress} ({reason}): {resume}")
