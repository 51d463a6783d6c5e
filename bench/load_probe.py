"""One process running the load stage over some PDFs, as a runner drives it; prints one JSON line of figures.

    .venv/bin/python -m bench.load_probe [--cache DIR] a.pdf b.pdf ...

Started by the memory and scaling benchmarks as a child, so that its peak memory and CPU are its own.
Windows are counted and dropped as they come, as the runners stream them on; with `--cache` each
document's windows are written to a page cache there, as a run does by default.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from bench.common import DEFAULT_CONFIG, process_cpu_s
from docqa.config import load_config
from docqa.ingest.load import LoadDocuments
from docqa.records import SourceDocument
from docqa.runtime.plan import page_cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", help="page cache folder (default: no cache)")
    parser.add_argument("pdfs", nargs="+")
    args = parser.parse_args()
    config = load_config(DEFAULT_CONFIG, [f"output.cache_dir={json.dumps(args.cache)}"])
    stage = LoadDocuments(config.input, config.render, config.text, config.limits, page_cache(config))
    started, cpu_started = time.monotonic(), time.process_time()
    pages = windows = failed = 0
    for pdf in args.pdfs:
        for window in stage([SourceDocument(pdf)]):
            windows += 1
            failed += window.error is not None
            pages += len(window.images)
    finished = time.monotonic()
    worker_cpu = process_cpu_s(stage.worker.pid) if stage.worker.pid else 0.0
    stage.worker.close()  # reaped here, so its peak memory shows in RUSAGE_CHILDREN
    print(
        json.dumps(
            {
                "started": started,  # CLOCK_MONOTONIC: comparable between processes of one machine
                "finished": finished,
                "pages": pages,
                "windows": windows,
                "failed_windows": failed,
                "cpu_s": round(time.process_time() - cpu_started + worker_cpu, 3),
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "worker_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
