"""The `docqa` command line, run in this process, which writes its own CPU time and peak memory as it exits.

    python -m bench.driver FIGURES.json dataset --input ... --output ...

The scale benchmark (`bench/scale.py`) runs a dataset build through this so that it can read what the
driver alone costs: `getrusage(RUSAGE_SELF)` counts the CPU time of this process (all its threads, Ray
Data's streaming executor and the shard assembly included) and none of the processes it starts (Ray's
workers, the PDF workers); `VmHWM` is the peak resident memory of this process's own address space, exact
where sampling from outside would miss a short peak. (`ru_maxrss` would not do: Linux carries the
parent's peak across fork and exec, so it reports the benchmark's own memory when that is larger.)
"""

from __future__ import annotations

import atexit
import json
import resource
import sys
from pathlib import Path


def write_figures(path: Path) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    peak_kib = int(status["VmHWM"].split()[0])
    figures = {"cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "peak_rss_mb": round(peak_kib / 1024, 1)}
    path.write_text(json.dumps(figures) + "\n")


if __name__ == "__main__":
    atexit.register(write_figures, Path(sys.argv[1]))  # registered first, so it runs last: after Ray's shutdown
    from docqa.__main__ import main

    sys.exit(main(sys.argv[2:]))
