"""The load stage in child processes (`bench.load_probe`): peak memory against corpus size, and throughput
with one and two processes.

Memory: the same documents once and four times over (copies with distinct bytes, so the page cache
stores each), each through one load process writing the page cache; the process tree's resident memory
(the process and its isolated document worker) is polled from /proc every 20 ms. A stage that streams
keeps the same peak however many documents pass.

Scaling: the same pages split between one and two load processes started together (no page cache), in
the order 1, 2, 2, 1 so that a drift in the machine's load falls on both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import PROJECT_ROOT, descendants, distinct_copies, page_count, ratio, rss_mb

POLL_S = 0.02


def run_probes(groups: list[list[Path]], cache: Path | None = None) -> tuple[list[dict], float]:
    """Start one load process per group of PDFs at once; their reports and the peak RSS (MiB) of them all."""
    command = [sys.executable, "-m", "bench.load_probe"] + (["--cache", str(cache)] if cache else [])
    probes = [
        subprocess.Popen(command + [str(p) for p in group], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
        for group in groups
    ]
    peak = 0.0
    while any(probe.poll() is None for probe in probes):
        pids = [probe.pid for probe in probes]
        peak = max(peak, sum(rss_mb(pid) for pid in pids + [d for pid in pids for d in descendants(pid)]))
        time.sleep(POLL_S)
    reports = []
    for probe in probes:
        out, _ = probe.communicate()
        if probe.returncode != 0:
            raise RuntimeError(f"load probe failed with exit code {probe.returncode}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports, peak


def measure_memory(pdfs: list[Path], copies: int = 4) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as work:
        corpus = distinct_copies(pdfs, copies, Path(work) / "pdfs")
        once = corpus[: len(pdfs)]
        results = {}
        for label, group in (("1x", once), (f"{copies}x", corpus)):
            (report,), peak = run_probes([group], Path(work) / f"cache-{label}")
            results[label] = {
                "documents": len(group),
                "pages": report["pages"],
                "peak_tree_rss_mb": round(peak, 1),
                "maxrss_mb": round(report["maxrss_mb"], 1),
                "worker_maxrss_mb": round(report["worker_maxrss_mb"], 1),
            }
    results["ratio"] = ratio(results[f"{copies}x"]["peak_tree_rss_mb"], results["1x"]["peak_tree_rss_mb"])
    return results


def split_by_pages(pdfs: list[Path], parts: int) -> list[list[Path]]:
    """`parts` groups with about the same number of pages (largest documents placed first)."""
    groups: list[list[Path]] = [[] for _ in range(parts)]
    pages = [0] * parts
    for pdf, count in sorted(((p, page_count(p)) for p in pdfs), key=lambda item: -item[1]):
        lightest = pages.index(min(pages))
        groups[lightest].append(pdf)
        pages[lightest] += count
    return groups


def measure_scaling(pdfs: list[Path]) -> dict:
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for processes in (1, 2, 2, 1):
        reports, _ = run_probes(split_by_pages(pdfs, processes))
        wall = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
        pages = sum(r["pages"] for r in reports)
        runs[processes].append({"pages": pages, "wall_s": wall, "cpu_s": sum(r["cpu_s"] for r in reports)})
    results = {}
    for processes, measured in runs.items():
        pages = sum(m["pages"] for m in measured)
        wall = sum(m["wall_s"] for m in measured)
        results[f"{processes}_process"] = {
            "pages": pages,
            "wall_s": round(wall, 2),
            "pages_per_s": round(pages / wall, 2),
            "cpu_ms_per_page": round(1000 * sum(m["cpu_s"] for m in measured) / pages, 1),
        }
    results["ratio"] = ratio(results["2_process"]["pages_per_s"], results["1_process"]["pages_per_s"])
    return results
