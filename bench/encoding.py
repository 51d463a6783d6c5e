"""Rendering and encoding page images: the load stage's render path against a bare PyMuPDF loop, and
image formats compared on the same pixels.

Each page is rendered once untimed (so MuPDF's font and image caches are warm for both), then timed as
a bare `get_pixmap` at the pipeline's zoom and as the pipeline's `render_page` (render plus encode with
the default settings), alternately, three times each; one process, so pages/s is per core. Then the
same pixmap is encoded in each format; the time includes handing the pixels to Pillow where Pillow
encodes. Quality is the PSNR of the decoded image against the raw pixmap (lossless: identical pixels).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

import numpy as np
import pymupdf
from PIL import Image

from bench.common import page_count
from docqa.config import LimitsConfig, RenderConfig
from docqa.ingest.load import encode_image, render_page, render_zoom

RENDER_REPEATS = 3  # renderings of each page timed on each side, alternately


def _pillow(pixmap: pymupdf.Pixmap) -> Image.Image:
    return Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)


def _pillow_encoder(fmt: str, **options: object) -> Callable[[pymupdf.Pixmap], bytes]:
    def encode(pixmap: pymupdf.Pixmap) -> bytes:
        buffer = io.BytesIO()
        _pillow(pixmap).save(buffer, fmt, **options)
        return buffer.getvalue()

    return encode


def _pipeline_encoder(**render: object) -> Callable[[pymupdf.Pixmap], bytes]:
    settings = RenderConfig(**render)
    return lambda pixmap: encode_image(pixmap, settings)


# The first is the pipeline's default (render.image_format=png).
ENCODERS: dict[str, Callable[[pymupdf.Pixmap], bytes]] = {
    "png (PyMuPDF; default)": _pipeline_encoder(),
    "png level 1 (Pillow)": _pillow_encoder("PNG", compress_level=1),
    "png level 6 (Pillow)": _pillow_encoder("PNG", compress_level=6),
    "png level 9 (Pillow)": _pillow_encoder("PNG", compress_level=9),
    "jpeg q90 (PyMuPDF)": lambda pixmap: pixmap.tobytes("jpeg", jpg_quality=90),
    "jpeg q85 (Pillow)": _pillow_encoder("JPEG", quality=85),
    "jpeg q90 (Pillow; image_format=jpeg)": _pipeline_encoder(image_format="jpeg"),
    "jpeg q95 (Pillow)": _pillow_encoder("JPEG", quality=95),
    "jpeg q90 4:4:4 (Pillow)": _pillow_encoder("JPEG", quality=90, subsampling=0),  # no chroma subsampling
    "webp lossless (Pillow; image_format=webp)": _pipeline_encoder(image_format="webp"),
    "webp q90 (Pillow)": _pillow_encoder("WEBP", quality=90),
}


def psnr(pixmap: pymupdf.Pixmap, encoded: bytes) -> float:
    """Peak signal-to-noise ratio (dB) of the decoded image against the pixmap; inf when identical."""
    original = np.frombuffer(pixmap.samples, np.uint8).reshape(pixmap.height, pixmap.width, 3)
    decoded = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))
    mse = np.mean((original.astype(np.int32) - decoded.astype(np.int32)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def pages_of(pdfs: list[Path], every_page: bool) -> list[tuple[Path, int]]:
    """Every page, or (for a larger corpus) the first and the middle page of each document."""
    chosen = []
    for pdf in pdfs:
        count = page_count(pdf)
        chosen += [(pdf, n) for n in (range(count) if every_page else sorted({0, count // 2}))]
    return chosen


def measure_encoding(pages: list[tuple[Path, int]]) -> dict:
    render = RenderConfig()
    max_megapixels = LimitsConfig().max_page_megapixels
    bare_s = pipeline_s = 0.0
    encoders = {name: {"seconds": 0.0, "bytes": 0, "psnr": []} for name in ENCODERS}
    for pdf, number in pages:
        with pymupdf.open(pdf) as doc:
            page = doc.load_page(number)
            zoom = render_zoom(page, render.dpi, render.max_side_px, max_megapixels)
            matrix = pymupdf.Matrix(zoom, zoom)
            pixmap = page.get_pixmap(matrix=matrix, alpha=False)  # warms MuPDF's caches; untimed
            for _ in range(RENDER_REPEATS):
                started = time.perf_counter()
                page.get_pixmap(matrix=matrix, alpha=False)
                bare_s += time.perf_counter() - started
                started = time.perf_counter()
                render_page(page, zoom, render)
                pipeline_s += time.perf_counter() - started
        for name, encode in ENCODERS.items():
            started = time.perf_counter()
            encoded = encode(pixmap)
            encoders[name]["seconds"] += time.perf_counter() - started
            encoders[name]["bytes"] += len(encoded)
            encoders[name]["psnr"].append(psnr(pixmap, encoded))
    n = len(pages)
    rendered = n * RENDER_REPEATS
    default = encoders[next(iter(ENCODERS))]
    formats = {}
    for name, measured in encoders.items():
        finite = [p for p in measured["psnr"] if math.isfinite(p)]
        formats[name] = {
            "ms_per_page": round(1000 * measured["seconds"] / n, 1),
            "kb_per_page": round(measured["bytes"] / n / 1000, 1),
            "time_vs_default": round(measured["seconds"] / default["seconds"], 2),
            "size_vs_default": round(measured["bytes"] / default["bytes"], 2),
            "lossless": len(finite) == 0,  # every page decoded to the very same pixels
            "psnr_db_median": round(median(finite), 1) if finite else None,
            "psnr_db_min": round(min(finite), 1) if finite else None,
        }
    return {
        "pages": n,
        "bare_render_pages_per_s": round(rendered / bare_s, 1),
        "render_encode_pages_per_s": round(rendered / pipeline_s, 1),
        "ratio": round(bare_s / pipeline_s, 3),  # pipeline pages/s over bare pages/s, one core each
        "formats": formats,
    }
