"""Duplicates across the whole dataset: QA pairs said twice, and documents that are near-copies.

Texts are compared as sets of tokens (or token 5-grams, for documents) folded by
`docqa.quality.folding` (case, accents, punctuation and digit grouping ignored, numbers whole). Finding
similar earlier texts uses MinHash with locality-sensitive hashing: a signature is the minimum of each of several hash permutations over the set,
and the share of equal positions in two signatures estimates their Jaccard similarity. Signatures are
cut into bands of 4 rows; texts that share a band are candidates, so a pair of texts at similarity J
becomes a candidate with probability 1 - (1 - J^4)^bands (0.985 at J = 0.8 with 8 bands, 0.98 at J = 0.7
with 16). Candidates are then checked: QA pairs exactly, on their word sets; documents on their
64-position signatures (standard error about 0.06 at J = 0.7).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

import numpy as np

from docqa.quality.folding import folded_text, tokens
from docqa.records import AnnotatedWindow, DroppedPair, Failure, no_pair_kept

ROWS_PER_BAND = 4
_PRIME = (1 << 31) - 1
_rng = np.random.default_rng(20240101)  # fixed: signatures must be comparable across runs and processes
_A = _rng.integers(1, _PRIME, 64, dtype=np.uint64)
_B = _rng.integers(0, _PRIME, 64, dtype=np.uint64)


def _hash(shingle: str) -> int:
    return int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=4).digest(), "little")


def minhash(shingles: Iterable[str], permutations: int = 64) -> np.ndarray:
    """The MinHash signature of a set of shingles (all `_PRIME` for an empty set)."""
    values = np.fromiter((_hash(s) for s in set(shingles)), dtype=np.uint64)
    if not len(values):
        return np.full(permutations, _PRIME, dtype=np.uint32)
    a, b = _A[:permutations, None], _B[:permutations, None]
    return ((a * values[None, :] + b) % _PRIME).min(axis=1).astype(np.uint32)


def word_shingles(text: str, size: int) -> set[str]:
    """Runs of `size` consecutive folded tokens (the whole text when shorter)."""
    words = tokens(text)
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class Buckets:
    """Band buckets of locality-sensitive hashing: which earlier items share a band with a signature."""

    def __init__(self) -> None:
        self.items: dict[int, list[int]] = {}

    def _keys(self, signature: np.ndarray) -> list[int]:
        bands = signature.reshape(-1, ROWS_PER_BAND)
        return [hash((band, row.tobytes())) for band, row in enumerate(bands)]

    def candidates(self, signature: np.ndarray) -> list[int]:
        return sorted({i for key in self._keys(signature) for i in self.items.get(key, ())})

    def add(self, signature: np.ndarray, item: int) -> None:
        for key in self._keys(signature):
            self.items.setdefault(key, []).append(item)


class PairDeduplicator:
    """Keeps the first of each QA pair said again: word for word after folding (`duplicate`), or nearly
    (`near_duplicate`: the question's words and the answer's words each overlap an earlier kept pair's
    by at least the threshold, so the same question with another answer is not a repeat)."""

    def __init__(self, near_duplicate_jaccard: float | None):
        self.threshold = near_duplicate_jaccard
        self.exact: set[bytes] = set()
        self.kept: list[tuple[str, str]] = []  # folded question and answer of each kept pair
        self.buckets = Buckets()

    def check(self, question: str, answer: str) -> str | None:
        """None for a new pair (remembered from now on), or why it repeats an earlier one."""
        folded = (folded_text(question), folded_text(answer))
        key = hashlib.blake2b("\t".join(folded).encode(), digest_size=16).digest()
        if key in self.exact:
            return "duplicate"
        self.exact.add(key)
        if self.threshold is None:
            return None
        words = [set(text.split()) for text in folded]
        signature = minhash({f"q:{w}" for w in words[0]} | {f"a:{w}" for w in words[1]}, 32)
        for i in self.buckets.candidates(signature):
            earlier = [set(text.split()) for text in self.kept[i]]
            if all(jaccard(mine, theirs) >= self.threshold for mine, theirs in zip(words, earlier)):
                return "near_duplicate"
        self.buckets.add(signature, len(self.kept))
        self.kept.append(folded)
        return None


class DatasetDeduplicator:
    """Applied to every window on its way to the writer, in input order: drops the pairs the dataset
    already holds, and rejects whole a document already in it under another path."""

    def __init__(self, near_duplicate_jaccard: float | None):
        self.pairs = PairDeduplicator(near_duplicate_jaccard)
        self.first_path: dict[str, str] = {}  # doc_id -> the first path its bytes were read from

    def apply(self, window: AnnotatedWindow) -> AnnotatedWindow:
        if window.error:
            return window
        first = self.first_path.setdefault(window.doc_id, window.source_path)
        copy = first != window.source_path
        kept, dropped = [], []
        for pair in window.qa:
            reason = "duplicate_document" if copy else self.pairs.check(pair.question, pair.answer)
            if reason:
                dropped.append(DroppedPair(pair.question, pair.answer, reason, pair.support, origin=pair.origin))
            else:
                kept.append(pair)
        error = None
        if copy:
            error = Failure("dedup", "duplicate_document", f"the same bytes as {first}")
        elif dropped and not kept:
            error = no_pair_kept("dedup", dropped)
        return dataclasses.replace(window, qa=kept, dropped=window.dropped + dropped, error=error)


def near_copy_groups(documents: Iterable[tuple[str, str]], threshold: float) -> dict[str, str]:
    """For (doc_id, text) pairs, the group each document belongs to: the smallest doc_id among the
    documents linked to it by a chain of near-copies (word 5-gram Jaccard similarity >= threshold, as
    estimated by their signatures). The groups do not depend on the order the documents come in."""
    signatures: list[np.ndarray] = []
    ids: list[str] = []
    buckets = Buckets()
    parent: dict[str, str] = {}

    def root(doc_id: str) -> str:
        while parent[doc_id] != doc_id:
            parent[doc_id] = parent[parent[doc_id]]
            doc_id = parent[doc_id]
        return doc_id

    for doc_id, text in documents:
        if doc_id in parent:
            continue
        parent[doc_id] = doc_id
        signature = minhash(word_shingles(text, 5))
        for other in buckets.candidates(signature):
            if (signatures[other] == signature).mean() >= threshold:
                a, b = root(doc_id), root(ids[other])
                parent[max(a, b)] = min(a, b)
        buckets.add(signature, len(ids))
        signatures.append(signature)
        ids.append(doc_id)
    return {doc_id: root(doc_id) for doc_id in parent}
