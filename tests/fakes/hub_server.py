"""A strict, stateful fake of the Hugging Face Hub's HTTP API on 127.0.0.1, for tests that push and load datasets.

`FakeHub` answers the requests the real `huggingface_hub` client (2.4) and `datasets.load_dataset` make to
create a dataset repo, upload files over Git LFS, commit them, list them and read them back. It runs two
`ThreadingHTTPServer`s on random free ports: the Hub itself, and a storage host standing for S3 and the CDN
(upload and download URLs are signed and carry no token, and the client treats the host as foreign, as it
does the real one). Standard library only, but for PyYAML (a project dependency) to read card metadata.

    POST /api/repos/create                                   409 with the repo's `url` when it exists
    POST /api/validate-yaml                                  the README's metadata (parsed with PyYAML)
    GET  /api/agent-harnesses                                an empty registry (the client's user agent asks)
    GET  /api/datasets/{ns}/{name}[/revision/{rev}]          sha, private, siblings, cardData
    POST /api/datasets/{ns}/{name}/branch/{branch}           a new branch (409 when it exists)
    POST /api/datasets/{ns}/{name}/preupload/{rev}           upload mode (lfs or regular) and remote oid per file
    POST /datasets/{ns}/{name}.git/info/lfs/objects/batch    upload actions, none for objects already stored
    PUT  <storage>/upload/{ticket}                           the object's bytes: size and sha256 are checked
    POST /datasets/{ns}/{name}.git/info/lfs/objects/verify   200 only when the object is stored
    POST /api/datasets/{ns}/{name}/commit/{rev}              NDJSON: header, file, lfsFile, deletedFile, deletedFolder
    GET  /api/datasets/{ns}/{name}/tree/{rev}[/{path}]       recursive, expand; pages linked by a Link header
    POST /api/datasets/{ns}/{name}/paths-info/{rev}          form or JSON body
    HEAD/GET /datasets/{ns}/{name}/resolve/{rev}/{path}      X-Repo-Commit, ETag, Range; an LFS file is a 302 to
                                                             a signed storage URL with X-Linked-Etag/X-Linked-Size

Strict where a lenient fake would hide bugs: writes need `Authorization: Bearer <token>`, and a wrong token
is a 401 on any request; a private repo is invisible without the token; an upload whose size or sha256
differs from the announced object is refused; a commit that names an LFS object never uploaded, whose
`parentCommit` is no longer the branch head (412), whose README.md has invalid metadata, or that deletes a
missing file is refused whole. Unknown routes answer 404 and are listed in `unknown_routes`; exceptions
inside the fake, and a token sent to the storage host, are listed in `errors`: a test can assert that both
stayed empty.

Every request is logged in `log` with what it did (objects stored, files each commit added or deleted);
the token is never stored. `drop_connection_on_commit` makes a commit fail as a network failure would.

Not covered: Xet storage (clients must run with HF_HUB_DISABLE_XET=1, which huggingface_hub reads at
import), LFS multipart transfers (each object is one PUT), model and Space repos, real authentication and
permissions (one user, one token: no scopes, organizations, read-only or fine-grained tokens), gated and
disabled repos, pull requests (`create_pr`), tags, commit history and diffs, `.gitignore` rules, rate
limits, the Hub's full metadata schema (only the shape of license, configs and dataset_info is checked), the
dataset viewer and its Parquet conversion, and the git protocol itself (clone, fetch, push).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import posixpath
import re
import secrets
import threading
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import yaml

LFS_PATTERNS = ("*.parquet", "*.arrow", "*.png", "*.jpg", "*.jpeg", "*.webp", "*.pdf", "*.tar", "*.gz", "*.zip")
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS)
LFS_MIN_SIZE = 10 * 1024 * 1024  # larger files go to LFS whatever their name, as on the Hub
REPO_NAME = re.compile(r"^(?!.*(--|\.\.))[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
TRUE = ("1", "true", "True")


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class Blob:
    """A file in a commit: a regular file's bytes, or an LFS pointer to a stored object."""

    size: int
    oid: str  # git object id; of the pointer file for an LFS file
    content: bytes | None = None
    sha256: str | None = None
    pointer_size: int = 0

    @classmethod
    def regular(cls, content: bytes) -> Blob:
        return cls(len(content), git_oid(content), content=content)

    @classmethod
    def lfs(cls, sha256: str, size: int) -> Blob:
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
        return cls(size, git_oid(pointer), sha256=sha256, pointer_size=len(pointer))


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    date: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_id: str
    private: bool
    created: str
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)  # LFS objects uploaded, committed or not


@dataclass
class Logged:
    """One request: what was asked, how it was answered, and what it changed."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    status: int = 0  # 0: the connection was dropped without an answer
    auth: str = "none"  # none, valid or invalid
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None, **body: Any):
        super().__init__(message)
        self.status, self.message, self.code, self.headers, self.body = status, message, code, headers or {}, body


class DropConnection(Exception):
    """Close the connection without an answer."""


def json_response(data: Any, status: int = 200, content_type: str = "application/json", **headers: str) -> Response:
    return Response(status, json.dumps(data).encode(), {"Content-Type": content_type, **headers})


def error_response(error: HubError) -> Response:
    headers = {"X-Error-Message": error.message, **error.headers}
    if error.code:
        headers["X-Error-Code"] = error.code
    return json_response({"error": error.message, **error.body}, error.status, **headers)


def ranged(range_header: str | None, data: bytes, headers: dict[str, str]) -> Response:
    """`data` whole, or the one byte range asked for (206), or 416 when the range lies outside it."""
    headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream", **headers}
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", (range_header or "").strip())
    if not match or match[1] == match[2] == "":
        return Response(200, data, headers)
    total = len(data)
    if match[1] == "":
        start, end = max(total - int(match[2]), 0), total - 1
    else:
        start, end = int(match[1]), min(int(match[2]) if match[2] else total - 1, total - 1)
    if start >= total or start > end:
        return Response(416, b"", {**headers, "Content-Range": f"bytes */{total}"})
    return Response(206, data[start : end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{total}"})


def front_matter(content: str) -> str | None:
    """The text between a README's opening '---' line and the next; None when there is no such block."""
    end = content.find("\n---\n", 3)
    end = len(content) - 4 if end < 0 and content.endswith("\n---") else end
    return content[4:end] if content.startswith("---\n") and end >= 0 else None


def card_errors(content: str) -> list[str] | None:
    """What is wrong with a README's YAML metadata, as the Hub checks it; None when it has no metadata."""
    if not content.startswith("---\n"):
        return None
    block = front_matter(content)
    if block is None:
        return ["the metadata block is not closed by a '---' line"]
    try:
        meta = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        return [f"invalid YAML: {str(exc).splitlines()[0]}"]
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return ["metadata must be a YAML mapping"]
    errors = []
    license = meta.get("license", "")
    if not (isinstance(license, str) or (isinstance(license, list) and all(isinstance(x, str) for x in license))):
        errors.append("license must be a string or a list of strings")
    if not isinstance(meta.get("task_categories", []), list):
        errors.append("task_categories must be a list")
    configs = meta.get("configs", [])
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        errors.append("configs must be a list of mappings")
    else:
        names = [c.get("config_name") for c in configs]
        if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            errors.append("every config needs a unique config_name")
        for config in configs:
            files = config.get("data_files", [])
            files = [files] if isinstance(files, str) else files
            for entry in files if isinstance(files, list) else [None]:
                ok = isinstance(entry, str) or (
                    isinstance(entry, dict)
                    and isinstance(entry.get("split"), str)
                    and (isinstance(entry.get("path"), str) or isinstance(entry.get("path"), list))
                )
                if not ok:
                    errors.append(f"config {config.get('config_name')}: data_files must be paths or {{split, path}}")
    infos = meta.get("dataset_info", [])
    for info in [infos] if isinstance(infos, dict) else infos if isinstance(infos, list) else [None]:
        if not isinstance(info, dict):
            errors.append("dataset_info must be a mapping or a list of mappings")
            continue
        splits = info.get("splits", [])
        named = isinstance(splits, list) and all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in splits)
        if not named:
            errors.append("dataset_info.splits must be a list of {name, num_examples, ...}")
        if "features" in info and not isinstance(info["features"], (list, dict)):
            errors.append("dataset_info.features must be a list or a mapping")
    return errors


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise HubError(400, f"the body is not JSON: {exc}") from None


def lfs_tracked(path: str, patterns: list[str]) -> bool:
    """Whether .gitattributes patterns send `path` to LFS; a pattern without '/' matches the file's name."""
    return any(fnmatch.fnmatch(path if "/" in p else posixpath.basename(path), p.strip("/")) for p in patterns)


def checked_path(path: Any) -> str:
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or any(part in ("", ".", "..", ".git") for part in path.split("/"))
    ):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


class FakeHub:
    """The fake Hub. Use as a context manager; `url` is the endpoint to give the client (HF_ENDPOINT)."""

    def __init__(self, token: str, user: str = "tester", tree_page_size: int = 1000):
        self.token, self.user, self.tree_page_size = token, user, tree_page_size
        self.repos: dict[str, Repo] = {}
        self.log: list[Logged] = []
        self.unknown_routes: list[str] = []
        self.errors: list[str] = []
        self._lock = threading.RLock()
        self._secret = secrets.token_bytes(16)
        self._tickets: dict[str, tuple[str, str, int]] = {}  # upload ticket -> repo id, sha256, size
        self._drops: dict[str, tuple[int, bool]] = {}
        self._commit_requests: Counter[str] = Counter()
        self._commits_made = 0
        self._servers: list[ThreadingHTTPServer] = []

    # -- lifecycle and inspection ------------------------------------------------------------------------

    def __enter__(self) -> FakeHub:
        for storage in (False, True):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, storage))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            self._servers.append(server)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def storage_url(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def drop_connection_on_commit(self, repo_id: str, number: int, applied: bool = False) -> None:
        """Close the connection of the `number`-th commit request to `repo_id` without an answer; with
        `applied`, the commit lands first and only the answer is lost."""
        self._drops[repo_id] = (number, applied)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        commit = repo.commits[repo.branches[revision]]
        return {p: b.content if b.sha256 is None else repo.objects[b.sha256] for p, b in commit.files.items()}

    def head(self, repo_id: str, revision: str = "main") -> str:
        return self.repos[repo_id].branches[revision]

    def uploads(self, repo_id: str) -> list[str]:
        """sha256 of every LFS object stored in `repo_id` by an upload, in order (one entry per PUT)."""
        return [e.detail["sha256"] for e in self.log if e.detail.get("repo") == repo_id and e.detail.get("stored")]

    def commits(self, repo_id: str) -> list[dict[str, Any]]:
        """The commits made through the API to `repo_id`: commit (its oid), added (all files), lfs, deleted."""
        return [e.detail for e in self.log if e.detail.get("repo") == repo_id and "commit" in e.detail]

    # -- request handling --------------------------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, method: str, storage: bool) -> None:
        split = urlsplit(request.path)
        segments = [unquote(s) for s in split.path.split("/")[1:]]
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        entry = Logged(method, unquote(split.path), query)
        try:
            body = self._read_body(request)
            if storage and "Authorization" in request.headers:
                with self._lock:
                    self.errors.append(f"{method} storage:{entry.path} was sent the Authorization header")
                raise HubError(400, "the token must not leave the Hub")
            if storage:
                response = self._route_storage(method, segments, query, body, request, entry)
            else:
                user = self._authenticate(request, entry)
                response = self._route(method, segments, query, body, user, request, entry)
        except HubError as exc:
            response = error_response(exc)
        except DropConnection:
            with self._lock:
                self.log.append(entry)
            request.close_connection = True
            return
        except Exception:  # a bug in the fake, or input it did not expect: visible to the test
            with self._lock:
                self.errors.append(f"{method} {entry.path}\n{traceback.format_exc()}")
            response = json_response({"error": "internal error in the fake Hub"}, 500)
        entry.status = response.status
        with self._lock:
            self.log.append(entry)
        request.send_response(response.status)
        for name, value in response.headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(response.body)))
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(response.body)

    @staticmethod
    def _read_body(request: BaseHTTPRequestHandler) -> bytes:
        if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(request.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(request.rfile.read(size))
                request.rfile.readline()
            while request.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return request.rfile.read(int(request.headers.get("Content-Length") or 0))

    def _authenticate(self, request: BaseHTTPRequestHandler, entry: Logged) -> str | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credential.encode(), self.token.encode()):
            entry.auth = "invalid"
            raise HubError(401, "Invalid credentials in Authorization header")
        entry.auth = "valid"
        return self.user

    def _route(self, method, seg, query, body, user, request, entry) -> Response:
        match [method, *seg]:
            case ["POST", "api", "repos", "create"]:
                return self._create_repo(parse_json(body), user)
            case ["GET", "api", "agent-harnesses"]:  # fetched once a process for the client's user agent
                return json_response({"standardEnvVars": [], "harnesses": {}})
            case ["POST", "api", "validate-yaml"]:
                return self._validate_yaml(parse_json(body))
            case ["GET", "api", "datasets", ns, name]:
                return self._repo_info(self._readable(f"{ns}/{name}", user), "main", query)
            case ["GET", "api", "datasets", ns, name, "revision", rev]:
                return self._repo_info(self._readable(f"{ns}/{name}", user), rev, query)
            case ["POST", "api", "datasets", ns, name, "branch", branch]:
                return self._create_branch(self._writable(f"{ns}/{name}", user), branch, parse_json(body or b"{}"))
            case ["POST", "api", "datasets", ns, name, "preupload", rev]:
                return self._preupload(self._writable(f"{ns}/{name}", user), rev, parse_json(body))
            case ["POST", "api", "datasets", ns, name, "commit", rev]:
                if request.headers.get("Content-Type") != "application/x-ndjson":
                    raise HubError(400, "a commit is an application/x-ndjson body")
                if query.get("create_pr"):
                    raise HubError(400, "pull requests are not supported by the fake Hub")
                return self._commit(self._writable(f"{ns}/{name}", user), rev, body, entry)
            case ["GET", "api", "datasets", ns, name, "tree", rev, *path]:
                return self._tree(self._readable(f"{ns}/{name}", user), rev, "/".join(path), query, request.path)
            case ["POST", "api", "datasets", ns, name, "paths-info", rev]:
                return self._paths_info(self._readable(f"{ns}/{name}", user), rev, request, body)
            case ["POST", "datasets", ns, git, "info", "lfs", "objects", "batch"] if git.endswith(".git"):
                return self._lfs_batch(self._writable(f"{ns}/{git[:-4]}", user), parse_json(body))
            case ["POST", "datasets", ns, git, "info", "lfs", "objects", "verify"] if git.endswith(".git"):
                return self._lfs_verify(self._writable(f"{ns}/{git[:-4]}", user), parse_json(body))
            case ["GET" | "HEAD", "datasets", ns, name, "resolve", rev, *path] if path:
                return self._resolve(self._readable(f"{ns}/{name}", user), rev, "/".join(path), request)
        with self._lock:
            self.unknown_routes.append(f"{method} {entry.path}")
        raise HubError(404, "Not Found")

    def _route_storage(self, method, seg, query, body, request, entry) -> Response:
        match [method, *seg]:
            case ["PUT", "upload", ticket]:
                return self._store_object(ticket, body, entry)
            case ["GET" | "HEAD", "objects", ns, name, sha256]:
                if query.get("sig") != self._signature(f"{ns}/{name}", sha256):
                    raise HubError(403, "Request has expired or its signature does not match")
                data = self.repos[f"{ns}/{name}"].objects[sha256]
                return ranged(request.headers.get("Range"), data, {"ETag": f'"{sha256}"'})
        with self._lock:
            self.unknown_routes.append(f"{method} storage:{entry.path}")
        raise HubError(404, "Not Found")

    def _signature(self, repo_id: str, sha256: str) -> str:
        return hmac.new(self._secret, f"{repo_id}:{sha256}".encode(), "sha256").hexdigest()

    # -- repos and access --------------------------------------------------------------------------------

    def _readable(self, repo_id: str, user: str | None) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and user is None):  # the Hub hides a private repo behind a 401
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        return repo

    def _writable(self, repo_id: str, user: str | None) -> Repo:
        if user is None:
            raise HubError(401, "Repository not found", "RepoNotFound")
        repo = self._readable(repo_id, user)
        if repo_id.split("/")[0] != user:
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    @staticmethod
    def _commit_of(repo: Repo, rev: str) -> Commit:
        commit = repo.commits.get(repo.branches.get(rev, rev))
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return commit

    def _new_commit(self, repo: Repo, parent: Commit | None, title: str, files: dict[str, Blob]) -> Commit:
        self._commits_made += 1
        tree = json.dumps(sorted((p, b.oid) for p, b in files.items()))
        oid = hashlib.sha1(f"{parent and parent.oid}\n{title}\n{self._commits_made}\n{tree}".encode()).hexdigest()
        repo.commits[oid] = Commit(oid, parent and parent.oid, title, now(), files)
        return repo.commits[oid]

    def _create_repo(self, payload: dict, user: str | None) -> Response:
        if user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        name, namespace = payload.get("name"), payload.get("organization") or user
        if payload.get("type") != "dataset":
            raise HubError(400, "the fake Hub holds dataset repos only")
        if not isinstance(name, str) or not REPO_NAME.match(name):
            raise HubError(400, f"Invalid repo name: {name!r}")
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a dataset under the namespace {namespace}")
        repo_id = f"{namespace}/{name}"
        url = f"{self.url}/datasets/{repo_id}"
        with self._lock:
            if repo_id in self.repos:
                raise HubError(409, "You already created this dataset repo", url=url)
            repo = Repo(repo_id, payload.get("visibility", "public") != "public", now())
            files = {".gitattributes": Blob.regular(GITATTRIBUTES.encode())}
            repo.branches["main"] = self._new_commit(repo, None, "initial commit", files).oid
            self.repos[repo_id] = repo
        return json_response({"url": url, "name": repo_id, "id": secrets.token_hex(12)})

    def _create_branch(self, repo: Repo, branch: str, payload: dict) -> Response:
        with self._lock:
            if branch in repo.branches:
                raise HubError(409, f"Reference refs/heads/{branch} already exists")
            repo.branches[branch] = self._commit_of(repo, payload.get("startingPoint", "main")).oid
        return json_response({})

    def _validate_yaml(self, payload: dict) -> Response:
        if payload.get("repoType") not in ("model", "dataset", "space") or not isinstance(payload.get("content"), str):
            raise HubError(400, "validate-yaml needs content and repoType")
        errors = card_errors(payload["content"])
        if errors is None:
            warning = {"message": "empty or missing yaml metadata in repo card"}
            return json_response({"errors": [], "warnings": [warning]})
        return json_response({"errors": [{"message": e} for e in errors], "warnings": []}, 400 if errors else 200)

    def _repo_info(self, repo: Repo, rev: str, query: dict) -> Response:
        commit = self._commit_of(repo, rev)
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if query.get("blobs") in TRUE:
                sibling |= {"size": blob.size, "blobId": blob.oid}
                if blob.sha256:
                    sibling["lfs"] = {"sha256": blob.sha256, "size": blob.size, "pointerSize": blob.pointer_size}
            siblings.append(sibling)
        card = commit.files.get("README.md")
        text = card.content.decode() if card is not None and card.content is not None else ""
        card_data = yaml.safe_load(front_matter(text)) if front_matter(text) and not card_errors(text) else None
        return json_response(
            {
                "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                "id": repo.repo_id,
                "author": repo.repo_id.split("/")[0],
                "sha": commit.oid,
                "lastModified": commit.date,
                "createdAt": repo.created,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "cardData": card_data,
                "siblings": siblings,
            }
        )

    # -- uploads and commits -----------------------------------------------------------------------------

    def _preupload(self, repo: Repo, rev: str, payload: dict) -> Response:
        with self._lock:
            commit = self._commit_of(repo, rev)
            if rev not in repo.branches:
                raise HubError(400, f"{rev} is not a branch")
            attributes = commit.files.get(".gitattributes")
            patterns = [
                line.split()[0]
                for line in (attributes.content.decode() if attributes else "").splitlines()
                if "filter=lfs" in line
            ]
        answers = []
        for file in payload["files"]:
            path, sample = checked_path(file["path"]), base64.b64decode(file["sample"], validate=True)
            lfs = lfs_tracked(path, patterns) or file["size"] >= LFS_MIN_SIZE or b"\0" in sample
            existing = commit.files.get(path)
            oid = existing and (existing.sha256 or existing.oid)  # what the client compares its file with
            answers.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        return json_response({"files": answers, "commitOid": commit.oid})

    def _lfs_batch(self, repo: Repo, payload: dict) -> Response:
        if payload.get("operation") != "upload":
            raise HubError(400, "the fake Hub's LFS endpoint takes uploads only (downloads go through resolve)")
        if "ref" in payload:
            self._commit_of(repo, payload["ref"]["name"])
        answers = []
        with self._lock:
            for obj in payload["objects"]:
                sha256, size = obj.get("oid"), obj.get("size")
                if not isinstance(sha256, str) or not SHA256.match(sha256) or not isinstance(size, int) or size < 0:
                    raise HubError(422, f"invalid LFS object: {obj}")
                stored = repo.objects.get(sha256)
                if stored is not None and len(stored) != size:
                    answers.append({"oid": sha256, "size": size, "error": {"code": 422, "message": "size mismatch"}})
                elif stored is not None:
                    answers.append({"oid": sha256, "size": size})  # already there: no action, nothing to send
                else:
                    ticket = secrets.token_urlsafe(16)
                    self._tickets[ticket] = (repo.repo_id, sha256, size)
                    answers.append(
                        {
                            "oid": sha256,
                            "size": size,
                            "authenticated": True,
                            "actions": {
                                "upload": {"href": f"{self.storage_url}/upload/{ticket}"},
                                "verify": {"href": f"{self.url}/datasets/{repo.repo_id}.git/info/lfs/objects/verify"},
                            },
                        }
                    )
        return json_response({"transfer": "basic", "objects": answers}, content_type="application/vnd.git-lfs+json")

    def _store_object(self, ticket: str, body: bytes, entry: Logged) -> Response:
        with self._lock:
            if ticket not in self._tickets:
                raise HubError(403, "Request has expired or its signature does not match")
            repo_id, sha256, size = self._tickets[ticket]
            entry.detail = {"repo": repo_id, "sha256": sha256, "stored": False}
            if len(body) != size or hashlib.sha256(body).hexdigest() != sha256:
                raise HubError(400, f"the bytes are not the announced object (size {len(body)}, {size} announced)")
            self.repos[repo_id].objects[sha256] = body
            del self._tickets[ticket]
            entry.detail["stored"] = True
        return Response(200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest()}"'})

    def _lfs_verify(self, repo: Repo, payload: dict) -> Response:
        stored = repo.objects.get(payload.get("oid"))
        if stored is None or len(stored) != payload.get("size"):
            raise HubError(404, f"LFS object {payload.get('oid')} is not stored")
        return json_response({})

    def _commit(self, repo: Repo, rev: str, body: bytes, entry: Logged) -> Response:
        lines = [parse_json(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header" or not lines[0]["value"].get("summary"):
            raise HubError(400, "a commit starts with a header line that has a summary")
        header = lines[0]["value"]
        with self._lock:
            if rev not in repo.branches:
                raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            head = repo.commits[repo.branches[rev]]
            parent = header.get("parentCommit")
            if parent is not None and not (len(parent) >= 7 and head.oid.startswith(parent.lower())):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(head.files)
            added, lfs, deleted = [], [], []
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value", {})
                path = checked_path(value.get("path", "").rstrip("/") if key == "deletedFolder" else value.get("path"))
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, f"{path}: only base64 file content is accepted")
                    files[path] = Blob.regular(base64.b64decode(value["content"], validate=True))
                    added.append(path)
                elif key == "lfsFile":
                    stored = repo.objects.get(value.get("oid")) if value.get("algo") == "sha256" else None
                    if stored is None:
                        raise HubError(400, f"{path}: LFS object {value.get('oid')} was never uploaded to this repo")
                    if "size" in value and value["size"] != len(stored):
                        raise HubError(400, f"{path}: LFS object size {value['size']} != {len(stored)} stored")
                    files[path] = Blob.lfs(value["oid"], len(stored))
                    added.append(path)
                    lfs.append(path)
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"{path}: no such file to delete", "EntryNotFound")
                    deleted.append(path)
                elif key == "deletedFolder":
                    inside = [p for p in files if p.startswith(path + "/")]
                    if not inside:
                        raise HubError(404, f"{path}/: no such folder to delete", "EntryNotFound")
                    for p in inside:
                        del files[p]
                    deleted += inside
                else:
                    raise HubError(400, f"unknown commit operation {key!r}")
            if "README.md" in added and files["README.md"].content is not None:
                errors = card_errors(files["README.md"].content.decode())
                if errors:
                    raise HubError(400, "Invalid metadata in README.md", errors=[{"message": e} for e in errors])
            self._commit_requests[repo.repo_id] += 1
            drop = self._drops.get(repo.repo_id)
            dropped = drop is not None and drop[0] == self._commit_requests[repo.repo_id]
            if dropped and not drop[1]:
                entry.detail = {"repo": repo.repo_id, "dropped": True}
                raise DropConnection
            commit = self._new_commit(repo, head, header["summary"], files)
            repo.branches[rev] = commit.oid
            entry.detail = {"repo": repo.repo_id, "commit": commit.oid, "added": added, "lfs": lfs, "deleted": deleted}
            if dropped:
                raise DropConnection
        url = f"{self.url}/datasets/{repo.repo_id}/commit/{commit.oid}"
        answer = {"success": True, "commitOid": commit.oid, "commitUrl": url, "hookOutput": "", "pullRequestUrl": None}
        return json_response(answer)

    # -- reading -----------------------------------------------------------------------------------------

    def _entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> dict[str, Any] | None:
        blob = commit.files.get(path)
        if blob is not None:
            entry: dict[str, Any] = {"type": "file", "oid": blob.oid, "size": blob.size, "path": path}
            if blob.sha256:
                entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": blob.pointer_size}
        else:
            inside = sorted((p, b.oid) for p, b in commit.files.items() if p.startswith(path + "/"))
            if not inside:
                return None
            tree_oid = hashlib.sha1(json.dumps(inside).encode()).hexdigest()
            entry = {"type": "directory", "oid": tree_oid, "size": 0, "path": path}
        if expand:
            last = self._last_change(repo, commit, path)
            entry["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
            if blob is not None:
                scan = {"virusFound": False, "virusNames": None}
                entry["securityFileStatus"] = {"status": "safe", "avScan": scan, "pickleImportScan": None}
        return entry

    @staticmethod
    def _last_change(repo: Repo, commit: Commit, path: str) -> Commit:
        def state(c: Commit):
            return sorted((p, b.oid) for p, b in c.files.items() if p == path or p.startswith(path + "/"))

        while commit.parent is not None and state(repo.commits[commit.parent]) == state(commit):
            commit = repo.commits[commit.parent]
        return commit

    def _tree(self, repo: Repo, rev: str, folder: str, query: dict, raw_path: str) -> Response:
        recursive, expand = query.get("recursive") in TRUE, query.get("expand") in TRUE
        with self._lock:
            commit = self._commit_of(repo, rev)
            prefix = folder + "/" if folder else ""
            below = [p[len(prefix) :] for p in commit.files if p.startswith(prefix)]
            if folder and not below:
                raise HubError(404, f"{folder} does not exist on {rev}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
            names = set()
            for rest in below:
                parts = rest.split("/")
                for depth in range(1, len(parts) + 1 if recursive else 2):
                    names.add("/".join(parts[:depth]))
            paths = sorted(prefix + name for name in names)
            cursor = int(query.get("cursor", 0))
            size = 50 if expand else self.tree_page_size
            page = [self._entry(repo, commit, p, expand) for p in paths[cursor : cursor + size]]
        headers = {}
        if cursor + size < len(paths):
            params = urlencode({"recursive": recursive, "expand": expand, "cursor": cursor + size})
            headers["Link"] = f'<{self.url}{urlsplit(raw_path).path}?{params}>; rel="next"'
        return json_response(page, **headers)

    def _paths_info(self, repo: Repo, rev: str, request: BaseHTTPRequestHandler, body: bytes) -> Response:
        if request.headers.get("Content-Type", "").startswith("application/json"):
            payload = parse_json(body)
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(body.decode())
            paths, expand = form.get("paths", []), form.get("expand", ["False"])[-1] in TRUE
        with self._lock:
            commit = self._commit_of(repo, rev)
            entries = [self._entry(repo, commit, path.strip("/"), expand) for path in paths]
        return json_response([e for e in entries if e is not None])

    def _resolve(self, repo: Repo, rev: str, path: str, request: BaseHTTPRequestHandler) -> Response:
        commit = self._commit_of(repo, rev)
        blob = commit.files.get(path)
        if blob is None:
            raise HubError(404, f"{path} does not exist on {rev}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{blob.oid}"'}
        if blob.sha256 is None:
            return ranged(request.headers.get("Range"), blob.content, headers)
        sig = self._signature(repo.repo_id, blob.sha256)
        location = f"{self.storage_url}/objects/{quote(repo.repo_id)}/{blob.sha256}?sig={sig}"
        linked = {"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(blob.size), "Location": location}
        return Response(302, b"", {**headers, **linked})


def _handler(hub: FakeHub, storage: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests go to `hub.log`

        def do_GET(self) -> None:
            hub.handle(self, "GET", storage)

        def do_HEAD(self) -> None:
            hub.handle(self, "HEAD", storage)

        def do_POST(self) -> None:
            hub.handle(self, "POST", storage)

        def do_PUT(self) -> None:
            hub.handle(self, "PUT", storage)

    return Handler
