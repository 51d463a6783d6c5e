"""The `docqa` command line, run in this process, which writes its own CPU time and peak memory as it exits.

    python -m bench.driver FIGURES.json dataset --input ... --output ...

The scale benchmark (`bench/scale.py`) runs a dataset build through this so that it can read what the
driver alone costs: `getrusage(RUSAGE_SELF)` counts this process (all its threads, Ray Data's streaming
executor and the shard assembly included) and none of the processes it starts (Ray's workers, the PDF
workers), and its peak resident memory is exact where sampling from outside would miss a short peak.
"""

from __future__ import annotations

import atexit
import json
import resource
import sys
from pathlib import Path


def write_figures(path: Path) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {"cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    path.write_text(json.dumps(figures) + "\n")


if __name__ == "__main__":
    atexit.register(write_figures, Path(sys.argv[1]))  # registered first, so it runs last: after Ray's shutdown
    from docqa.__main__ import main

    sys.exit(main(sys.argv[2:]))
