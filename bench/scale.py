"""Scale probe: does what the driver spends grow with the corpus, where it should not?

The whole pipeline (`python -m docqa dataset`, Ray runner, default config) runs on 1,000 and 4,000 small
generated PDFs, and on 16,000 with `--scale-max 16000` (some 25 more minutes on 2 cores, so not in `make
bench`). The model is replaced by a load generator: the deterministic stand-in of the tests
(`tests/fakes/completions_server.py`), an OpenAI-compatible server on 127.0.0.1 that answers at once,
reached through the endpoint backend. So these figures measure the pipeline around the model, never a
model. What a run at Docmatix's size (1.3M PDFs) pays once per document in its single driver process
decides whether it can finish at all, so each point reports:

- the driver's own CPU time per document and its peak resident memory (`bench/driver.py`: the command
  line's process alone, none of Ray's workers), which should stay flat from 1k to 16k documents;
- wall time per document, flat too on the same machine;
- the share of the run after the last completion was answered: assembling, writing and publishing the
  dataset, which nothing overlaps.

The documents are one or two pages of sentences drawn from the sample corpus's words with a fixed seed,
with numbers, so that no two are alike (the stand-in would answer near-copies alike, and the duplicate
filter drop their pairs) and every page has a usable text layer (no OCR). The largest corpus is written
once per bench run; smaller points read its first documents, each run with its own output folder and
page cache.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pymupdf

from bench.common import PROJECT_ROOT, ratio
from docqa.demo.corpus import write_sample_corpus
from docqa.generate.model import prepare_embedded_model
from tests.fakes.completions_server import StandInModel

SIZES = (1000, 4000, 16000)
DEFAULT_MAX = 4000  # 1k + 4k: ~8 min on an idle 2-core machine at 90-115 ms a document; 16k adds ~24
LOAD_GENERATOR = "stand-in OpenAI completions server answering at once (a load generator, not a model)"
WORDS_PER_PAGE = (180, 320)


def measure_scale(work: Path, max_documents: int = DEFAULT_MAX) -> dict:
    """Each corpus size up to `max_documents` through the whole pipeline, and the ratios of the largest to 1k."""
    sizes = [n for n in SIZES if n <= max_documents]
    model_dir = prepare_embedded_model(PROJECT_ROOT / ".cache" / "models")
    started = time.monotonic()
    corpus = write_scale_corpus(work / "scale-corpus", max(sizes))
    written_s = time.monotonic() - started
    points = {}
    for n in sizes:
        print(f"[bench] scale: {n} documents through the pipeline (Ray runner)", flush=True)
        points[str(n)] = run_point(work / f"scale-{n}", corpus[:n], model_dir)
    smallest, largest = points[str(sizes[0])], points[str(sizes[-1])]
    return {
        "load_generator": LOAD_GENERATOR,
        "cores": len(os.sched_getaffinity(0)),
        "corpus": {"documents": len(corpus), "pages": sum(p for _, p in corpus), "written_s": round(written_s, 1)},
        "points": points,
        "largest": sizes[-1],
        "driver_cpu_per_doc_ratio": ratio(largest["driver_cpu_ms_per_doc"], smallest["driver_cpu_ms_per_doc"]),
        "driver_peak_rss_ratio": ratio(largest["driver_peak_rss_mb"], smallest["driver_peak_rss_mb"]),
        "wall_per_doc_ratio": ratio(largest["wall_ms_per_doc"], smallest["wall_ms_per_doc"]),
    }


def run_point(folder: Path, corpus: list[tuple[Path, int]], model_dir: Path) -> dict:
    """One dataset build of `corpus` through the command line, with the driver's and the run's figures."""
    folder.mkdir(parents=True)
    listing = folder / "inputs.txt"
    listing.write_text("".join(f"{pdf}\n" for pdf, _ in corpus))
    figures = folder / "driver.json"
    output = folder / "dataset"
    with StandInModel(model_dir / "tokenizer.json") as model:
        overrides = [
            "run.runner=ray",
            f"model.endpoint={model.url}",
            f"model.cache_dir={model_dir.parent}",
            f"output.cache_dir={folder / 'page-cache'}",  # its own: the points share documents
        ]
        command = [sys.executable, "-m", "bench.driver", str(figures), "dataset", "--input", f"@{listing}"]
        command += ["--output", str(output)] + [arg for o in overrides for arg in ("--set", o)]
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        generator_before = own_cpu_s()
        started = time.monotonic()
        with open(folder / "console.txt", "w") as console:
            done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, stdout=console, stderr=subprocess.STDOUT)
        ended = time.monotonic()
        generator_cpu_s = own_cpu_s() - generator_before
    if done.returncode != 0 or model.last_answered is None:
        tail = (folder / "console.txt").read_text()[-2000:]
        raise RuntimeError(f"the scale run of {len(corpus)} documents failed (exit {done.returncode}):\n{tail}")
    driver = json.loads(figures.read_text())
    stats = json.loads((output / "stats.json").read_text())
    documents, pages, wall = len(corpus), sum(p for _, p in corpus), ended - started
    return {
        "documents": documents,
        "pages": pages,
        "wall_s": round(wall, 1),
        "wall_ms_per_doc": round(wall / documents * 1000, 1),
        "driver_cpu_s": driver["cpu_s"],
        "driver_cpu_ms_per_doc": round(driver["cpu_s"] / documents * 1000, 2),
        "driver_core_share": round(driver["cpu_s"] / wall, 3),  # of one core, over the whole run
        "driver_peak_rss_mb": driver["peak_rss_mb"],
        "until_first_completion_s": round(model.first_answered - started, 1),
        "after_last_completion_s": round(ended - model.last_answered, 1),
        "after_last_completion_share": round((ended - model.last_answered) / wall, 3),
        "completions": model.completions,
        "load_generator_cpu_s": round(generator_cpu_s, 1),
        "examples": stats["examples"],
        "documents_in_dataset": stats["documents_in_dataset"],
        "rejects": sum(stats["rejects_by_stage"].values()),
        "stage_cpu_s": stats["cost"]["cpu_seconds_by_stage"],
        "output_tokens": stats["cost"]["output_tokens"],
    }


def own_cpu_s() -> float:
    """CPU seconds of this process: the load generator's threads, while the benchmark waits for the run."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_scale_corpus(folder: Path, count: int) -> list[tuple[Path, int]]:
    """`count` distinct PDFs of one or two pages (every third has two), with their page counts."""
    words = vocabulary(folder / "samples")
    rng = random.Random(20261130)
    corpus = []
    for number in range(count):
        path = folder / f"doc-{number:05d}.pdf"
        pages = 2 if number % 3 == 0 else 1
        doc = pymupdf.open()
        for page_number in range(pages):
            page = doc.new_page()
            text = f"Record {number}, page {page_number + 1}\n\n" + paragraphs(rng, words)
            page.insert_textbox(pymupdf.Rect(60, 60, 552, 780), text, fontsize=10)
        doc.save(path)
        doc.close()
        corpus.append((path, pages))
    return corpus


def vocabulary(folder: Path) -> list[str]:
    """The distinct words of the sample corpus (886 of three letters or more), in a fixed order."""
    found = set()
    for pdf in write_sample_corpus(folder):
        with pymupdf.open(pdf) as doc:
            found |= {word.lower() for page in doc for word in re.findall(r"[A-Za-z]{3,}", page.get_text())}
    return sorted(found)


def paragraphs(rng: random.Random, words: list[str]) -> str:
    """Sentences of 6-16 words, some with a number, in paragraphs of 3-6 sentences."""
    remaining = rng.randint(*WORDS_PER_PAGE)
    text = []
    while remaining > 0:
        sentences = []
        for _ in range(rng.randint(3, 6)):
            sentence = rng.choices(words, k=min(max(remaining, 1), rng.randint(6, 16)))
            remaining -= len(sentence)
            if rng.random() < 0.4:
                sentence.insert(rng.randrange(len(sentence)), f"{rng.randint(2, 9999):,}")
            sentences.append(" ".join(sentence).capitalize() + ".")
            if remaining <= 0:
                break
        text.append(" ".join(sentences))
    return "\n\n".join(text)


def summary_rows(scale: dict) -> list[list[str]]:
    """One row per corpus size: the figures the ratios come from."""
    return [
        [
            f"{point['documents']:,}",
            f"{point['pages']:,}",
            f"{point['wall_s']}",
            f"{point['wall_ms_per_doc']}",
            f"{point['driver_cpu_s']}",
            f"{point['driver_cpu_ms_per_doc']}",
            f"{point['driver_core_share']:.1%}",
            f"{point['driver_peak_rss_mb']}",
            f"{point['after_last_completion_s']} ({point['after_last_completion_share']:.0%})",
            f"{point['load_generator_cpu_s']}",
            f"{point['documents_in_dataset']:,} / {point['examples']:,} / {point['rejects']:,}",
        ]
        for point in scale["points"].values()
    ]


SUMMARY_HEADER = [
    "documents",
    "pages",
    "wall s",
    "wall ms/doc",
    "driver CPU s",
    "driver CPU ms/doc",
    "driver, share of a core",
    "driver peak RSS MiB",
    "after last completion s (share)",
    "load generator CPU s",
    "in dataset / examples / rejects",
]
