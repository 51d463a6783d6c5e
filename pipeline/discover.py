"""Find the input PDFs: files, folders (searched recursively) and glob patterns."""

from __future__ import annotations

import glob
from pathlib import Path


class NoInputError(Exception):
    """Nothing to process: the run stops here instead of "succeeding" on an empty corpus."""


def discover_pdfs(specs: list[str]) -> list[str]:
    """Absolute paths of the PDFs named by `specs`, sorted and without repeats."""
    found: set[Path] = set()
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())
        elif path.is_file():
            found.add(path)
        elif glob.has_magic(spec):
            matches = [Path(m) for m in glob.glob(str(path), recursive=True)]
            found.update(p for p in matches if p.is_file())
            if not matches:
                raise NoInputError(f"input pattern {spec!r} matches no file")
        else:
            raise NoInputError(f"input {spec!r} is neither a file, a folder nor a glob pattern that exists")
    if not found:
        raise NoInputError(f"no PDF found in {', '.join(map(repr, specs))}")
    return sorted(str(p.resolve()) for p in found)
