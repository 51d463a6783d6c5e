"""The quality report's histograms and its plots: small PNG bar charts drawn with Pillow, shown in the
dataset card."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

PLOTS = {
    # file name: (title, key in the quality report)
    "drop_rates.png": ("QA pairs dropped, share of all generated, by reason", "qa_drop_rate_by_reason"),
    "answer_tokens.png": ("Kept answers by length in tokens", "answer_tokens_histogram"),
    "support_kept.png": ("Grounding score of kept pairs", "support_histogram_kept"),
    "support_dropped.png": ("Grounding score of dropped pairs", "support_histogram_dropped"),
}
WIDTH, BAR_HEIGHT, LABEL_WIDTH, MARGIN = 720, 22, 190, 12


def histogram(counts: Mapping[float, int], edges: list[float]) -> dict[str, int]:
    """From counts per value, the counts in [edges[i], edges[i+1]), and at or above the last edge; values
    below the first edge are not counted. Integer edges label bins "2-3"; float edges "0.1-0.2"."""
    integers = all(isinstance(e, int) for e in edges)
    bins = {}
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        if high is None:
            label = f"{low}+" if integers else f"{low:.1f}"
        elif integers:
            label = f"{low}" if high - 1 == low else f"{low}-{high - 1}"
        else:
            label = f"{low:.1f}-{high:.1f}"
        bins[label] = sum(n for value, n in counts.items() if low <= value and (high is None or value < high))
    return bins


def bar_chart(title: str, bars: dict[str, float]) -> Image.Image:
    """Horizontal bars, one per label, each with its value written after it."""
    font = ImageFont.load_default(size=14)
    height = MARGIN * 3 + BAR_HEIGHT * (max(len(bars), 1) + 1)
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, MARGIN), title, fill="black", font=font)
    top = MARGIN * 2 + BAR_HEIGHT
    longest = max(bars.values(), default=0) or 1
    span = WIDTH - LABEL_WIDTH - MARGIN * 2 - 70
    for row, (label, value) in enumerate(bars.items()):
        y = top + row * BAR_HEIGHT
        draw.text((MARGIN, y + 3), label[:26], fill="black", font=font)
        length = round(span * value / longest)
        draw.rectangle((LABEL_WIDTH, y + 3, LABEL_WIDTH + length, y + BAR_HEIGHT - 3), fill=(52, 101, 164))
        text = f"{value:.1%}" if isinstance(value, float) else str(value)
        draw.text((LABEL_WIDTH + length + 6, y + 3), text, fill="black", font=font)
    if not bars:
        draw.text((LABEL_WIDTH, top + 3), "(nothing to show)", fill="grey", font=font)
    return image


def write_plots(quality: dict[str, Any], folder: Path) -> list[str]:
    """The report's plots as PNG files in folder; returns their names."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (title, key) in PLOTS.items():
        bar_chart(title, quality[key]).save(folder / name, optimize=True)
    return list(PLOTS)
