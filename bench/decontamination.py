"""Decontamination: how many eval pages the page check catches, how many unrelated pages it wrongly
matches, and what it costs per page.

The labelled set: the first window of every PDF in shared/corpus/normal, loaded by the load stage as a
run loads it. Pages 1 and 2 of each PDF, re-encoded as JPEG, resized, cropped 2-5 % on each side and
rotated by a degree, form an eval set (a Parquet file in the Hub's layout, indexed by the pipeline's own
code). A page is caught when it is within the threshold of its own eval image; a false positive is a page
within it of an eval image of another PDF. Other pages of the same PDF (often the same template) are
counted apart. The PDFs are split in two halves by name order: thresholds are chosen on one and reported
on the other. Two fills of one form (docqa.demo.form) show what the threshold does with a template
filled with other values.

    .venv/bin/python -m bench --only decontamination
"""

from __future__ import annotations

import io
import random
import statistics
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from bench.common import shared_corpus
from docqa.config import DecontaminateConfig, InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.demo.form import build_form
from docqa.ingest.load import LoadDocuments, render_page, render_zoom
from docqa.quality.decontaminate import HASH_BITS, EvalSets, distances, image_hashes
from docqa.records import SourceDocument

EVAL_PAGES = (0, 1)  # pages of each PDF that go into the eval set
INDEX_ITEMS = 5000  # an eval set of DocVQA's size (5,188 test questions on 1,287 images), rounded up
OTHER_FILL = {"applicant_name": "Maria Okafor", "vessel_name": "Blue Heron", "registration": "WB-1093",
              "length": "12.4", "period_from": "1 May 2024", "date": "3 January 2024"}


def as_eval_image(png: bytes, rng: random.Random) -> bytes:
    """What a page may have gone through on its way into an eval set."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = image.size
    left, top, right, bottom = (rng.uniform(0.02, 0.05) for _ in range(4))
    image = image.crop((round(left * w), round(top * h), round(w - right * w), round(h - bottom * h)))
    image = image.rotate(rng.choice((-1, 1)), resample=Image.BILINEAR, fillcolor="white")
    scale = rng.uniform(0.5, 0.8)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=rng.randint(60, 90))
    return buffer.getvalue()


def form_page(other_fill: bool) -> bytes:
    """The sample corpus's filled form, or the same form filled with other values, rendered as a run would."""
    doc = build_form()
    page = doc[0]
    if other_fill:
        for widget in page.widgets():
            if widget.field_name in OTHER_FILL:
                widget.field_value = OTHER_FILL[widget.field_name]
                widget.update()
    render = RenderConfig()
    return render_page(page, render_zoom(page, render.dpi, render.max_side_px, LimitsConfig().max_page_megapixels), render)


def first_windows(pdfs: list[Path]) -> dict[str, list[bytes]]:
    """Page images of each PDF's first window, by file name, through the load stage."""
    load = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(ocr=False), LimitsConfig())
    pages: dict[str, list[bytes]] = {}
    for window in load([SourceDocument(str(p)) for p in pdfs]):
        if window.error is None and window.window == 0:
            pages[Path(window.source_path).name] = window.images
    return pages


def write_eval_set(path: Path, images: list[bytes]) -> None:
    rows = [{"image": {"bytes": image, "path": None}, "question": f"What does page {i} say?"} for i, image in enumerate(images)]
    pq.write_table(pa.Table.from_pylist(rows), path)


def choose(positives: list[int], negatives: list[int]) -> int:
    """Midway between the farthest caught page and the nearest unrelated one; where they overlap, the bound
    that catches the most eval pages less wrongly matched pages."""
    if max(positives) < min(negatives):
        return (max(positives) + min(negatives)) // 2
    return max(range(HASH_BITS), key=lambda t: sum(p <= t for p in positives) - sum(n <= t for n in negatives))


def share(values: list[int], bound: int) -> str:
    return f"{sum(v <= bound for v in values)}/{len(values)}"


def measure_decontamination(work: Path) -> dict:
    pdfs = shared_corpus()
    if not pdfs:
        return {}
    pages = first_windows(pdfs)
    rng = random.Random(0)
    eval_items = [(name, n) for name in sorted(pages) for n in EVAL_PAGES if n < len(pages[name])]
    form_a, form_b = form_page(False), form_page(True)
    eval_images = [as_eval_image(pages[name][n], rng) for name, n in eval_items] + [as_eval_image(form_a, rng)]
    write_eval_set(work / "eval.parquet", eval_images)
    started = time.perf_counter()
    config = DecontaminateConfig(eval_sets=[str(work / "eval.parquet")], index_dir=str(work / "index"))
    eval_sets = EvalSets(config)
    build_s = time.perf_counter() - started
    eval_sets.load()

    halves: dict[str, dict[str, list[int]]] = {"choose": {}, "report": {}}
    hash_ms, decode_ms = [], []
    for index, name in enumerate(sorted(pages)):
        half = halves["choose" if index % 2 == 0 else "report"]
        for n, image in enumerate(pages[name]):
            started = time.perf_counter()
            hashes = image_hashes(image)
            hash_ms.append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            Image.open(io.BytesIO(image)).load()  # the floor: the page image must be decoded to be hashed
            decode_ms.append(1000 * (time.perf_counter() - started))
            if hashes is None:
                half.setdefault("blank", []).append(n)
                continue
            found = distances(hashes, eval_sets.hashes)[: len(eval_items)].tolist()
            own = [d for (other, m), d in zip(eval_items, found) if other == name and m == n]
            same_document = [d for (other, m), d in zip(eval_items, found) if other == name and m != n]
            unrelated = [d for (other, _), d in zip(eval_items, found) if other != name]
            half.setdefault("caught", []).extend(own)
            half.setdefault("same_document", []).extend([min(same_document)] if same_document else [])
            half.setdefault("unrelated", []).append(min(unrelated))
    form = eval_sets.hashes[:, :, len(eval_items) :]
    form_twin = int(distances(image_hashes(form_b), form)[0])
    form_itself = int(distances(image_hashes(form_a), form)[0])

    chosen = halves["choose"]
    page_bound = choose(chosen["caught"], chosen["unrelated"])
    pair_bound = min(chosen["unrelated"]) - 1  # the loosest bound no unrelated page came within on this half
    copies = -(-INDEX_ITEMS // len(eval_images))
    lookup = np.ascontiguousarray(np.tile(eval_sets.hashes, (1, 1, copies))[:, :, :INDEX_ITEMS])  # DocVQA-sized
    probe = image_hashes(pages[min(pages)][0])
    started = time.perf_counter()
    for _ in range(20):
        distances(probe, lookup)
    lookup_ms = 1000 * (time.perf_counter() - started) / 20
    report = halves["report"]
    return {
        "pdfs": len(pages),
        "eval_images": len(eval_images),
        "page_bound_bits": page_bound,
        "pair_bound_bits": pair_bound,
        "choose_half": {k: sorted(v) for k, v in chosen.items()},
        "report_half": {k: sorted(v) for k, v in report.items()},
        "recall": share(report["caught"], page_bound),
        "false_positive_pages": share(report["unrelated"], page_bound),
        "same_document_pages_matched": share(report["same_document"], page_bound),
        "recall_at_pair_bound": share(report["caught"], pair_bound),
        "false_positive_pages_at_pair_bound": share(report["unrelated"], pair_bound),
        "form_other_fill_distance": form_twin,
        "form_same_fill_distance": form_itself,
        "hash_ms_per_page": round(statistics.median(hash_ms), 1),
        "decode_ms_per_page": round(statistics.median(decode_ms), 1),
        "lookup_ms_per_page": round(lookup_ms, 1),
        "index_items": INDEX_ITEMS,
        "index_build_ms_per_image": round(1000 * build_s / len(eval_images), 1),
    }


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(measure_decontamination(Path(folder)), indent=2))
