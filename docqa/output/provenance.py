"""How the dataset names where a document came from, without leaking what the name carried.

Every path written to the dataset (the `source_path` column, `texts[].source`, rejects, dropped pairs,
the card, config.yaml) goes through here. A URL can carry credentials (`https://user:pw@host/...`) or a
signature (`https://host/doc.pdf?X-Amz-Signature=...`); `safe_location` strips them. `output.source_paths`
then decides how much of the path is kept:

- `full`: the whole path or URL, credentials, query and fragment removed;
- `relative`: the path below the input entry the document was found under (a folder given: the path
  inside it; a file or tar shard given: its name, with `::member` for a document in a shard);
- `hash`: the first 16 hex digits of the sha256 of the `full` form, so documents stay distinguishable
  and a user holding the corpus can find one again.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from docqa.ingest.sources import is_url, source_of

SourcePathMode = Literal["full", "relative", "hash"]

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")


def safe_location(path: str) -> str:
    """`path` safe to record: a URL loses its credentials (`user:pw@`), query and fragment; a document
    inside a tar shard keeps its `::member` part; a local path is returned as it is."""
    unit = source_of(path)
    if not is_url(unit):
        return path
    parts = urlsplit(unit)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", "")) + path[len(unit) :]


def scrub_urls(text: str) -> str:
    """Free text (an error message) with every URL in it made safe as by `safe_location`."""
    return _URL_IN_TEXT.sub(lambda m: safe_location(m.group()), text)


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def recorded_entry(spec: str, mode: SourcePathMode) -> str:
    """An input entry (`input.paths`) as the card and config.yaml show it under `mode`: made safe
    (`full`), its name only (`relative`) or hashed (`hash`); a list file keeps its `@`."""
    if spec.startswith("@"):
        return "@" + recorded_entry(spec[1:], mode)
    safe = safe_location(spec)
    if mode == "hash":
        return short_hash(safe)
    return posixpath.basename(safe.rstrip("/")) if mode == "relative" else safe


class SourcePaths:
    """Turns a document's path into the form `output.source_paths` records.

    `roots` are the input entries as discovery normalised them (`docqa.ingest.sources.entry_roots`): a
    folder, a file or shard, or a glob's fixed folder. A document matching none (it cannot happen for
    discovered inputs) is recorded by its file name in `relative` mode.
    """

    def __init__(self, mode: SourcePathMode = "full", roots: list[str] = ()):
        self.mode = mode
        # The longest root first: a document is named below the most specific entry it was found under.
        self.roots = sorted({safe_location(r).rstrip("/") for r in roots}, key=len, reverse=True)

    def __call__(self, path: str) -> str:
        safe = safe_location(path)
        if self.mode == "full":
            return safe
        if self.mode == "hash":
            return short_hash(safe)
        unit = source_of(safe)
        member = safe[len(unit) :]
        for root in self.roots:
            if unit == root:
                return posixpath.basename(unit) + member
            if unit.startswith(root + "/"):
                return unit[len(root) + 1 :] + member
        return posixpath.basename(unit) + member

    def text(self, message: str, path: str) -> str:
        """A message about the document `path` (a reject's reason) with the path recorded as above and
        any URL made safe."""
        return scrub_urls(message.replace(path, self(path)) if path else message)
