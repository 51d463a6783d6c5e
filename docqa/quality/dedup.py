"""Duplicates across the whole dataset: QA pairs said twice, documents read twice, and near-copy documents.

What is decided, in input order (a unit's place among the inputs, then the record's place in its unit,
then the pair's in its window): a document whose bytes were already read under another path is rejected
whole (`duplicate_document`); of the pairs left, one said again word for word after folding is dropped
(`duplicate`), and one whose question's words and answer's words each overlap an earlier kept pair's by at
least a threshold (`near_duplicate`; the same question with another answer is not a repeat). Documents
linked by a chain of near-copies (word 5-gram Jaccard similarity) form a group that shares a split.

How, without one process seeing every item. Each unit's items are turned into keyed rows (`DedupKey`):
under its identity (a document's doc_id, a pair's folded text) and under each band of its MinHash
signature. Rows are grouped by key, by Ray (`docqa.runtime.ray_dag`) or by a dict in this process
(`group_by_key`), and each group is checked where its rows meet (`document_links`, `pair_links`). Only
what groups find, few rows, reaches `DedupDecisions`, which joins near-copy documents (union-find) and
runs the greedy "drop a pair near an earlier kept pair" over the near-pair edges in input order: a pair's
fate depends only on the pairs it is linked to, so this gives what a single pass in input order gives.

Texts are compared as sets of tokens (or token 5-grams, for documents) folded by
`docqa.quality.folding` (case, accents, punctuation and digit grouping ignored, numbers whole). A MinHash
signature is the minimum of each of several hash permutations over the set; the share of equal positions in
two signatures estimates their Jaccard similarity. Signatures are cut into bands of 4 rows; texts that share
a band are candidates, so a pair of texts at similarity J becomes a candidate with probability
1 - (1 - J^4)^bands (0.985 at J = 0.8 with 8 bands, 0.98 at J = 0.7 with 16). Candidates are then checked:
QA pairs exactly, on their word sets; documents on their 64-position signatures (standard error about 0.06
at J = 0.7).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from docqa.quality.folding import folded_text, tokens
from docqa.records import AnnotatedWindow, DedupKey, DedupLink, DroppedPair, Failure, from_table, no_pair_kept, to_table

ROWS_PER_BAND = 4
_PRIME = (1 << 31) - 1
_rng = np.random.default_rng(20240101)  # fixed: signatures must be comparable across runs and processes
_A = _rng.integers(1, _PRIME, 64, dtype=np.uint64)
_B = _rng.integers(0, _PRIME, 64, dtype=np.uint64)

# What the keys of a unit are made from: its records without their images.
DOCUMENT_COLUMNS = ["doc_id", "source_path", "window", "texts", "error"]
PAIR_COLUMNS = ["doc_id", "source_path", "qa", "error"]

_UNIT_BITS, _INDEX_BITS, _PAIR_BITS = 23, 28, 12


def order_of(unit: int, unit_index: int, pair: int = 0) -> int:
    """An item's place in input order as one integer: its unit's place among the inputs, its record's place
    in the unit, its pair's place in the record."""
    if unit >= 1 << _UNIT_BITS or unit_index >= 1 << _INDEX_BITS or pair >= 1 << _PAIR_BITS:
        raise ValueError(f"more than {1 << _UNIT_BITS} inputs, {1 << _INDEX_BITS} records in one input or "
                         f"{1 << _PAIR_BITS} pairs in one record: deduplicate fewer at once")
    return (unit << (_INDEX_BITS + _PAIR_BITS)) | (unit_index << _PAIR_BITS) | pair


def unit_of(order: int) -> int:
    return order >> (_INDEX_BITS + _PAIR_BITS)


def _place_in_unit(order: int) -> tuple[int, int]:
    """(unit_index, pair) of an order."""
    return (order >> _PAIR_BITS) & ((1 << _INDEX_BITS) - 1), order & ((1 << _PAIR_BITS) - 1)


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


def band_keys(signature: np.ndarray) -> list[bytes]:
    """The LSH bucket keys of a signature, one per band of `ROWS_PER_BAND` positions."""
    return [b"b" + bytes([band]) + row.tobytes() for band, row in enumerate(signature.reshape(-1, ROWS_PER_BAND))]


def pair_signature(question: str, answer: str) -> np.ndarray:
    """The signature of a folded pair: its question's words and its answer's words, kept apart."""
    return minhash({f"q:{w}" for w in question.split()} | {f"a:{w}" for w in answer.split()}, 32)


def document_keys(records: pa.Table, unit: int) -> pa.Table:
    """Keyed rows of the documents in one unit's records (`DOCUMENT_COLUMNS` and unit_index): under its
    doc_id, each path a document was read from, with its first record that reached the dataset stage; under
    its bands, the signature of its text (its windows' texts in window order)."""
    first: dict[tuple[str, str], int] = {}
    texts: dict[str, list[tuple[int, str]]] = {}
    for row in records.to_pylist():
        if row["error"] is None:
            first.setdefault((row["doc_id"], row["source_path"]), row["unit_index"])
            texts.setdefault(row["doc_id"], []).append((row["window"], "\n".join(row["texts"])))
    keys = [DedupKey(b"d" + doc_id.encode(), order_of(unit, index), doc_id, path) for (doc_id, path), index in first.items()]
    for doc_id, parts in texts.items():
        signature = minhash(word_shingles("\n".join(text for _, text in sorted(parts)), 5))
        keys += [DedupKey(key, order_of(unit, 0), doc_id, signature=signature.tobytes()) for key in band_keys(signature)]
    return to_table(DedupKey, keys)


def document_links(group: pa.Table, threshold: float) -> pa.Table:
    """What one key's rows of `document_keys` show: later paths of the same bytes (`copy`), or documents
    whose signatures agree on at least `threshold` of their positions (`near_copy`; enough of them to join
    every such document of the group)."""
    rows = sorted(from_table(DedupKey, group), key=lambda r: r.order)
    if rows[0].key.startswith(b"d"):
        first = rows[0].source_path
        links = [DedupLink("copy", r.order, doc_id=r.doc_id, source_path=r.source_path, first_path=first)
                 for r in rows[1:] if r.source_path != first]  # fmt: skip
        return to_table(DedupLink, links)
    signatures = {r.doc_id: np.frombuffer(r.signature, dtype=np.uint32) for r in rows}
    ids = sorted(signatures)
    joined = _UnionFind()
    links = []
    for i, a in enumerate(ids):
        for b in ids[:i]:
            if joined.root(a) != joined.root(b) and (signatures[a] == signatures[b]).mean() >= threshold:
                joined.union(a, b)
                links.append(DedupLink("near_copy", 0, doc_id=a, other_doc_id=b))
    return to_table(DedupLink, links)


def pair_keys(records: pa.Table, unit: int, copies: dict[tuple[str, str], str], near: bool) -> pa.Table:
    """Keyed rows of the QA pairs in one unit's records (`PAIR_COLUMNS` and unit_index): each under its
    folded text and, when `near`, under its bands. Pairs of a rejected record or of a document's copy
    (`copies`: (doc_id, path) -> the first path) are not compared: they are not in the dataset."""
    keys = []
    for row in records.to_pylist():
        if row["error"] is not None or (row["doc_id"], row["source_path"]) in copies:
            continue
        for i, pair in enumerate(row["qa"]):
            question, answer = folded_text(pair["question"]), folded_text(pair["answer"])
            order = order_of(unit, row["unit_index"], i)
            exact = hashlib.blake2b(f"{question}\t{answer}".encode(), digest_size=16).digest()
            keys.append(DedupKey(b"x" + exact, order))
            if near:
                keys += [DedupKey(k, order, question=question, answer=answer) for k in band_keys(pair_signature(question, answer))]
    return to_table(DedupKey, keys)


def pair_links(group: pa.Table, threshold: float | None) -> pa.Table:
    """What one key's rows of `pair_keys` show: every pair after the first of the same folded text
    (`duplicate`), or two pairs whose questions' and answers' words each overlap by `threshold`
    (`near_pair`), among the first of each text (a repeat is dropped whatever it is near)."""
    rows = sorted(from_table(DedupKey, group), key=lambda r: r.order)
    if rows[0].key.startswith(b"x"):
        return to_table(DedupLink, [DedupLink("duplicate", r.order, other=rows[0].order) for r in rows[1:]])
    firsts: dict[tuple[str, str], int] = {}
    for r in rows:
        firsts.setdefault((r.question, r.answer), r.order)
    words = [(order, set(q.split()), set(a.split())) for (q, a), order in firsts.items()]
    links = [
        DedupLink("near_pair", later, other=earlier)
        for i, (later, q, a) in enumerate(words)
        for earlier, q0, a0 in words[:i]
        if jaccard(q, q0) >= threshold and jaccard(a, a0) >= threshold
    ]
    return to_table(DedupLink, links)


def group_by_key(keyed: Iterable[pa.Table], check: Callable[[pa.Table], pa.Table]) -> Iterator[pa.Table]:
    """`check` applied to the rows of each key, grouped by a dict in this process (for one machine's worth
    of rows: `docqa.runtime.ray_dag` groups with Ray)."""
    tables = [t for t in keyed if t.num_rows]
    if not tables:
        return
    table = pa.concat_tables(tables)
    rows: dict[bytes, list[int]] = defaultdict(list)
    for i, key in enumerate(table.column("key").to_pylist()):
        rows[key].append(i)
    for indices in rows.values():
        if len(indices) > 1:  # a key held by one item links nothing
            yield check(table.take(indices))


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def root(self, item: str) -> str:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        a, b = self.root(a), self.root(b)
        self.parent[max(a, b)] = min(a, b)


@dataclass
class UnitDecisions:
    """What the deduplication decided about one unit's records."""

    copies: dict[tuple[str, str], str] = field(default_factory=dict)  # (doc_id, path) -> the first path
    drops: dict[tuple[int, int], str] = field(default_factory=dict)  # (unit_index, pair) -> drop reason

    def apply(self, window: AnnotatedWindow) -> AnnotatedWindow:
        """The window with its repeated pairs dropped, or rejected whole as a document's copy."""
        if window.error:
            return window
        first = self.copies.get((window.doc_id, window.source_path))
        kept, dropped = [], []
        for i, pair in enumerate(window.qa):
            reason = "duplicate_document" if first else self.drops.get((window.unit_index, i))
            if reason:
                dropped.append(DroppedPair(pair.question, pair.answer, reason, pair.support, origin=pair.origin))
            else:
                kept.append(pair)
        error = None
        if first:
            error = Failure("dedup", "duplicate_document", f"the same bytes as {first}")
        elif dropped and not kept:
            error = no_pair_kept("dedup", dropped)
        return dataclasses.replace(window, qa=kept, dropped=window.dropped + dropped, error=error)


class DedupDecisions:
    """Gathers what the groups found (`DedupLink` rows, in any order) and settles it: documents' copies and
    near-copy groups, pairs to drop. Holds only what was found, never every item."""

    def __init__(self) -> None:
        self.copies: dict[int, dict[tuple[str, str], str]] = defaultdict(dict)  # by unit
        self.drops: dict[int, dict[tuple[int, int], str]] = defaultdict(dict)  # by unit
        self._near_copies = _UnionFind()
        self._near_pairs: dict[int, set[int]] = defaultdict(set)  # pair order -> orders of earlier near pairs

    def add(self, links: Iterable[pa.Table]) -> None:
        for table in links:
            for link in from_table(DedupLink, table):
                if link.kind == "copy":
                    self.copies[unit_of(link.order)][link.doc_id, link.source_path] = link.first_path
                elif link.kind == "near_copy":
                    self._near_copies.union(link.doc_id, link.other_doc_id)
                elif link.kind == "duplicate":
                    self.drops[unit_of(link.order)][_place_in_unit(link.order)] = "duplicate"
                else:
                    self._near_pairs[link.order].add(link.other)

    def settle_pairs(self) -> None:
        """Drop each pair near an earlier kept one, in input order: the greedy a single pass would run."""
        dropped: set[int] = set()
        for order in sorted(self._near_pairs):
            if any(earlier not in dropped for earlier in self._near_pairs[order]):
                dropped.add(order)
                self.drops[unit_of(order)][_place_in_unit(order)] = "near_duplicate"
        self._near_pairs.clear()

    def groups(self) -> dict[str, str]:
        """The near-copy group of each document that has near-copies: the smallest doc_id among those linked
        to it by a chain of near-copies (a document missing here is its own group)."""
        return {doc_id: self._near_copies.root(doc_id) for doc_id in list(self._near_copies.parent)}

    def within(self, start: int, end: int) -> dict[int, UnitDecisions]:
        """The decisions about the units at positions start..end-1 (those with none left out)."""
        units = {u for u in self.copies.keys() | self.drops.keys() if start <= u < end}
        return {u: UnitDecisions(self.copies.get(u, {}), self.drops.get(u, {})) for u in sorted(units)}
