"""Keep evaluation sets out of the dataset: pages that are an eval set's images, and pairs that ask an eval
set's question about a page that looks like its image.

The eval sets are copies the user holds (DocVQA, InfoVQA, ChartQA...: nothing is downloaded) in the
shapes `docqa.quality.eval_sets` reads.

Images are compared by perceptual hash, made to survive what happens to a page on its way into an eval
set (re-encoding, resizing, a crop of a few per cent, a slight rotation): the inked area is cut out of
the page (so cropped margins do not matter), shrunk, cropped by 0 or 4 % on each side (16 crops) and each
crop hashed with imagehash's pHash on 16 x 16 DCT coefficients (256 bits: 64 cannot tell one page of text
from another). Two images are as far apart as their closest pair of crops. Questions are compared as sets
of word n-grams of their folded tokens (`docqa.quality.folding`), by Jaccard similarity. Each eval set's
index (hashes of its distinct images and their questions) is built once and cached by the content hash
of its files. A blank page is never compared: every blank page hashes alike.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import fsspec
import imagehash
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from docqa.config import DecontaminateConfig
from docqa.quality.eval_sets import EvalSetError, content_hash, read_eval_set
from docqa.quality.folding import tokens
from docqa.records import DroppedPair, PageWindow, QAPair
from docqa.runtime.stage import Resources, Stage

INDEX_KEY = "eval-index v1"  # salts the cache key: a change to the hashing below must change it
HASH_SIDE = 16
HASH_BITS = HASH_SIDE * HASH_SIDE
WORK_SIDE = 256  # pixels of the inked area's longer side when it is hashed
INK_LEVEL = 200  # grey levels below this are ink
MIN_INK = 0.002  # a page with less ink than this share of its pixels is blank to the eye and to a hash
CONTAMINATED = "contaminated"  # a dropped pair's reason; its `about` names the eval set
EVAL_PAGE = "eval_page"  # a rejected window's kind; its `about` names the eval set
CROPS = tuple(itertools.product((0.0, 0.04), repeat=4))  # (left, top, right, bottom) shares cut off


def image_hashes(data: bytes) -> np.ndarray | None:
    """The image's 16 crop hashes as a (16, 4) uint64 array; None for a (nearly) blank image."""
    image = Image.open(io.BytesIO(data))
    image.draft("L", (2 * WORK_SIDE, 2 * WORK_SIDE))  # a JPEG decodes at a fraction of its size
    gray = image.convert("L")
    gray = gray.reduce(max(1, max(gray.size) // (2 * WORK_SIDE)))  # averaging: specks of dust fade out
    ink = np.asarray(gray) < INK_LEVEL
    if ink.mean() < MIN_INK:
        return None
    ys, xs = np.nonzero(ink)
    inked = gray.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    scale = WORK_SIDE / max(inked.size)
    inked = inked.resize((max(1, round(inked.width * scale)), max(1, round(inked.height * scale))), Image.BOX)
    w, h = inked.size
    bits = [
        imagehash.phash(inked.crop((round(l * w), round(t * h), round(w - r * w), round(h - b * h))), HASH_SIDE).hash
        for l, t, r, b in CROPS
    ]
    return np.packbits(np.array(bits).reshape(len(CROPS), -1), axis=1).view(np.uint64)


def _crop_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Which crop of a page to compare with which crop of an eval image: on each side, both uncut, or one of
    them cut 4 %; 3^4 = 81 pairs that cover a relative crop of -4, 0 or +4 % per side."""
    pages, items = [], []
    for sides in itertools.product(((0, 0), (1, 0), (0, 1)), repeat=4):
        pages.append(CROPS.index(tuple(0.04 * page for page, _ in sides)))
        items.append(CROPS.index(tuple(0.04 * item for _, item in sides)))
    return np.array(pages), np.array(items)


PAGE_CROPS, ITEM_CROPS = _crop_pairs()


def distances(page: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Hamming distance from a page's crop hashes (16, 4) to each of N items, given as (16 crops, 4 words, N)
    so that each step works on one long row, at the best of the 81 pairings of their crops."""
    best = np.full(items.shape[-1], HASH_BITS, dtype=np.uint16)
    word = np.empty(items.shape[-1], dtype=np.uint64)
    for page_crop, item_crop in zip(PAGE_CROPS, ITEM_CROPS):
        bits = np.bitwise_count(np.bitwise_xor(items[item_crop, 0], page[page_crop, 0], out=word)).astype(np.uint16)
        for w in range(1, items.shape[1]):
            bits += np.bitwise_count(np.bitwise_xor(items[item_crop, w], page[page_crop, w], out=word))
        np.minimum(best, bits, out=best)
    return best


def question_grams(text: str, n: int) -> frozenset[str]:
    """Word n-grams of the folded question; a question shorter than n words is one gram."""
    words = tokens(text)
    if len(words) <= n:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


# The index ---------------------------------------------------------------------------------------------


def build_index(name: str) -> tuple[pa.Table, dict[str, int]]:
    """One index row per distinct image: the first eval row showing it, its crop hashes and the questions of
    every row showing it; and counts of what was read."""
    items: dict[bytes, int] = {}
    rows, hashes, questions = [], [], []
    counts = Counter()
    for row, images, texts in read_eval_set(name):
        counts["rows"] += 1
        for image in images:
            key = hashlib.sha256(image).digest()
            if key not in items:
                counts["images"] += 1
                try:
                    hashed = image_hashes(image)
                except (OSError, ValueError) as exc:
                    raise EvalSetError(f"eval set {name}: row {row} holds an image that cannot be read ({exc})") from None
                if hashed is None:
                    counts["blank_images"] += 1
                    continue
                items[key] = len(rows)
                rows.append(row)
                hashes.append(hashed.tobytes())
                questions.append([])
            if key in items:
                questions[items[key]].extend(texts)
    if not rows:
        raise EvalSetError(f"eval set {name}: no image to compare with among {counts['rows']} rows")
    table = pa.table({"row": pa.array(rows, pa.int64()), "hashes": pa.array(hashes, pa.binary()), "questions": questions})
    return table, dict(counts)


def prepare_index(name: str, index_dir: str) -> str:
    """The index file of eval set `name`, built unless a copy for the same bytes is cached."""
    path = f"{index_dir.rstrip('/')}/{content_hash(name, INDEX_KEY)}.parquet"
    fs, local = fsspec.core.url_to_fs(path)
    if not fs.exists(local):
        table, counts = build_index(name)
        print(
            f"Eval set {name}: {counts['rows']} rows, {len(table)} distinct images indexed"
            + (f", {counts['blank_images']} blank ones left out" if counts.get("blank_images") else ""),
            flush=True,
        )
        fs.makedirs(local.rsplit("/", 1)[0], exist_ok=True)
        staged = f"{local}.{uuid.uuid4().hex}.tmp"  # a crash leaves no half-written index under the real name
        with fs.open(staged, "wb") as f:
            pq.write_table(table, f)
        fs.mv(staged, local)
    return path


@dataclass(frozen=True)
class Match:
    eval_set: str
    row: int
    distance: int

    def describe(self) -> str:
        return f"row {self.row} of eval set {self.eval_set} (pHash distance {self.distance} of {HASH_BITS} bits)"


class EvalSets:
    """The configured eval sets' indexes: built (or found) at once, loaded by the stages' `setup()`."""

    def __init__(self, config: DecontaminateConfig):
        self.config = config
        self.index_files = [(name, prepare_index(name, config.index_dir)) for name in config.eval_sets]
        self.loaded = False

    def load(self) -> None:
        if self.loaded:  # the page and the parse stage share one in a local run
            return
        names, rows, hashes, self.item_questions = [], [], [], []
        for name, path in self.index_files:
            with fsspec.open(path, "rb") as f:
                table = pq.read_table(f)
            names += [name] * len(table)
            rows += table["row"].to_pylist()
            hashes += table["hashes"].to_pylist()
            self.item_questions += table["questions"].to_pylist()
        self.names, self.rows = names, rows
        items = np.frombuffer(b"".join(hashes), dtype=np.uint64).reshape(len(rows), len(CROPS), -1)
        self.hashes = np.ascontiguousarray(items.transpose(1, 2, 0))  # (crop, word, item): see `distances`
        # Inverted index: a question's n-grams -> the questions sharing them, to find overlaps without a scan.
        self.postings: dict[str, list[int]] = {}
        self.question_item, self.question_size = [], []
        for item, questions in enumerate(self.item_questions):
            for question in questions:
                grams = question_grams(question, self.config.question_ngram)
                for gram in grams:
                    self.postings.setdefault(gram, []).append(len(self.question_item))
                self.question_item.append(item)
                self.question_size.append(len(grams))
        self.loaded = True

    def match(self, item: int, distance: int) -> Match:
        return Match(self.names[item], self.rows[item], int(distance))

    def nearest(self, page: np.ndarray) -> Match:
        found = distances(page, self.hashes)
        return self.match(int(found.argmin()), int(found.min()))

    def asked(self, question: str) -> list[int]:
        """The items with a question whose n-grams overlap this one's by at least `min_question_overlap`."""
        grams = question_grams(question, self.config.question_ngram)
        shared = Counter(q for gram in grams for q in self.postings.get(gram, ()))
        return sorted(
            {
                self.question_item[q]
                for q, n in shared.items()
                if n / (len(grams) + self.question_size[q] - n) >= self.config.min_question_overlap
            }
        )

    def drop_asked(self, pairs: list[QAPair], images: list[bytes]) -> tuple[list[QAPair], list[DroppedPair]]:
        """Drop the pairs asking an eval question about a page that resembles that question's image.

        The page hashes are computed only when a question overlaps, and once per window."""
        page_hashes: Callable[[], list[np.ndarray]] = functools.cache(
            lambda: [h for h in map(image_hashes, images) if h is not None]
        )
        kept, dropped = [], []
        for pair in pairs:
            items = self.asked(pair.question)
            closest = None
            if items and page_hashes():
                found = np.min([distances(page, self.hashes[:, :, items]) for page in page_hashes()], axis=0)
                closest = self.match(items[int(found.argmin())], found.min())
            if closest and closest.distance <= self.config.max_pair_page_distance:
                detail = f"asks the question of {closest.describe()} about a page like its image"
                drop = DroppedPair(
                    pair.question, pair.answer, CONTAMINATED, pair.support, closest.eval_set, detail, origin=pair.origin
                )
                dropped.append(drop)
            else:
                kept.append(pair)
        return kept, dropped


class RemoveEvalPages(Stage):
    """Reject a window with a page that is an eval set's image; pairs are checked in the parse stage."""

    name = "decontaminate"
    input_type = PageWindow
    output_type = PageWindow
    resources = Resources(batch_size=8, num_cpus=0.25)

    def __init__(self, eval_sets: EvalSets):
        self.eval_sets = eval_sets

    def setup(self) -> None:
        self.eval_sets.load()

    def process(self, record: PageWindow) -> list[PageWindow]:
        for page, image in zip(record.pages, record.images):
            hashes = image_hashes(image)
            if hashes is None:
                continue
            match = self.eval_sets.nearest(hashes)
            if match.distance <= self.eval_sets.config.max_page_distance:
                reason = f"page {page + 1} of the document is {match.describe()}"
                return [self.fail(record, EVAL_PAGE, reason, about=match.eval_set)]
        return [record]
