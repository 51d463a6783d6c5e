"""Run the benchmarks, print their figures as Markdown tables and write them to bench/results.json.

    .venv/bin/python -m bench                              # all of them (`make bench`)
    .venv/bin/python -m bench --only encoding,memory       # some of them
    .venv/bin/python -m bench --only scale --scale-max 16000   # the scale probe up to 16k documents (~30 min idle)

Every figure is a ratio of two things measured side by side in this run on this machine, so that a
steady load from elsewhere weighs on both sides alike; the cores other processes kept busy meanwhile
are printed beside each figure, since a load that comes and goes still skews a ratio. Nothing here is
asserted: a missed target is printed as such.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.common import DEFAULT_CONFIG, PROJECT_ROOT, machine, other_load, ratio, shared_corpus, window_documents
from bench.decontamination import measure_decontamination
from bench.encoding import measure_encoding, pages_of
from bench.estimate import docmatix_estimate, estimate_rows
from bench.engine import measure_regeneration, measure_throughput, prepare
from bench.loading import measure_memory, measure_scaling
from bench.scale import DEFAULT_MAX, SIZES, SUMMARY_HEADER, measure_scale
from bench.scale import summary_rows as scale_rows
from docqa.config import RenderConfig, load_config
from docqa.demo.corpus import write_sample_corpus

BENCHMARKS = ("encoding", "decontamination", "scaling", "memory", "llm", "regeneration", "scale")
WINDOWS = 32  # windows the loading and regeneration benchmarks use: ~50 s of generation on 2 cores
LLM_BATCHES = 8  # the llm benchmark generates for this many default batches, so that batch tails show
MEMORY_COPIES = 4


def run(selected: set[str], work: Path, scale_max: int = DEFAULT_MAX) -> tuple[str, dict, dict]:
    """The figures of the selected benchmarks, and the conditions each ran in (wall time, other load)."""
    results: dict = {}
    conditions: dict = {}
    label, pdfs = window_documents(work, WINDOWS, RenderConfig().max_pages_per_example)
    if "encoding" in selected:
        with other_load() as conditions["encoding"]:
            step("encoding: the sample corpus, every page")
            results["encoding"] = {"sample": measure_encoding(pages_of(write_sample_corpus(work / "sample"), True))}
            if shared_corpus():
                step("encoding: shared/corpus/normal, first and middle page of each PDF")
                results["encoding"]["shared"] = measure_encoding(pages_of(shared_corpus(), False))
            else:
                step("encoding: ../shared/corpus/normal not found, skipped")
    if "decontamination" in selected:
        if shared_corpus():
            with other_load() as conditions["decontamination"]:
                step("decontamination: shared/corpus/normal pages planted in an eval set, two halves")
                (work / "decontamination").mkdir()
                results["decontamination"] = measure_decontamination(work / "decontamination")
        else:
            step("decontamination: ../shared/corpus/normal not found, skipped")
    if "scaling" in selected:
        with other_load() as conditions["scaling"]:
            step(f"scaling: {label}, twice over, in 1 and 2 load processes")
            results["scaling"] = measure_scaling(pdfs * 2)
    if "memory" in selected:
        with other_load() as conditions["memory"]:
            step(f"memory: {label}, 1x and {MEMORY_COPIES}x")
            results["memory"] = measure_memory(pdfs, MEMORY_COPIES)
    config = load_config(DEFAULT_CONFIG, ["output.cache_dir=null"])
    if "llm" in selected:
        windows = LLM_BATCHES * config.model.batch_size
        llm_label, llm_pdfs = window_documents(work / "llm", windows, RenderConfig().max_pages_per_example)
        with other_load() as conditions["llm"]:
            step(f"llm: {llm_label}, the generate stage through Ray, then the bare engine on the same prompts")
            results["llm"] = {"corpus": llm_label, **measure_throughput(config, llm_pdfs)}
    if "regeneration" in selected:
        with other_load() as conditions["engine_start"]:
            step(f"engine: {label}, loading, prompting, starting the engine")
            generate, _ = prepare(config, pdfs)
        with other_load() as conditions["regeneration"]:
            step("regeneration: two local runs, the second with another prompt")
            results["regeneration"] = measure_regeneration(config, generate, pdfs)
    if "scale" in selected:
        with other_load() as conditions["scale"]:
            step(f"scale: {', '.join(str(n) for n in SIZES if n <= scale_max)} generated PDFs, the whole pipeline")
            results["scale"] = measure_scale(work / "scale", scale_max)
    return label, results, conditions


def step(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def verdict(value: float | None, target: str) -> str:
    if value is None or target == "":
        return ""
    bound = float(target.split()[-1])
    met = value >= bound if target.startswith(">=") else value <= bound
    return "yes" if met else "NO"


def summary_rows(results: dict, conditions: dict) -> list[list[str]]:
    """One row per figure: what, ratio, target, met, the measurements behind it, the load from elsewhere."""
    rows = []

    def add(what: str, value: float | None, target: str, detail: str) -> None:
        benchmark = what.split(":", 1)[0]
        other = f"{conditions[benchmark]['other_load_cores']:.2f}" if benchmark in conditions else ""
        rows.append([what, "" if value is None else f"{value:.3f}", target, verdict(value, target), detail, other])

    for corpus, measured in results.get("encoding", {}).items():
        add(
            f"encoding: render+encode (PNG) / bare render, pages/s per core, {corpus} corpus",
            measured["ratio"],
            "",
            f"{measured['render_encode_pages_per_s']} vs {measured['bare_render_pages_per_s']} pages/s, "
            f"{measured['pages']} pages",
        )
    if "llm" in results:
        llm = results["llm"]
        stage = llm["stage"]
        add(
            f"llm: generate stage through Ray ({llm['batch_size']} a batch, {llm['batches_in_flight']} in flight) / "
            "bare vLLM given every prompt at once, output tokens/s",
            llm["ratio"],
            ">= 0.95",
            f"{stage['output_tokens_per_s']} vs {llm['bare']['output_tokens_per_s']} tokens/s, {llm['windows']} windows, "
            f"1 pass each; engine busy {stage['busy_share']}, at most {stage['most_requests_at_once']} requests at once",
        )
    if "memory" in results:
        memory = results["memory"]
        many = next(k for k in memory if k.endswith("x") and k != "1x")
        add(
            f"memory: peak RSS of the load stage, {many} / 1x corpus",
            memory["ratio"],
            "<= 1.2",
            f"{memory[many]['peak_tree_rss_mb']} vs {memory['1x']['peak_tree_rss_mb']} MiB, "
            f"{memory[many]['pages']} vs {memory['1x']['pages']} pages",
        )
    if "regeneration" in results:
        regeneration = results["regeneration"]
        first, again = regeneration["first"], regeneration["regenerated"]
        add(
            "regeneration: CPU outside the LLM, 2nd run / 1st run",
            regeneration["ratio"],
            "<= 0.05",
            f"{again['cpu_outside_llm_s']} vs {first['cpu_outside_llm_s']} s "
            f"(load {again['load_cpu_s']} vs {first['load_cpu_s']}, prompt {again['prompt_cpu_s']} vs "
            f"{first['prompt_cpu_s']}, parse {again['parse_cpu_s']} vs {first['parse_cpu_s']}, "
            f"rest {again['rest_cpu_s']} vs {first['rest_cpu_s']})",
        )
        add(
            "regeneration: the same, less the stages' per-run set-up (tokenizer load)",
            regeneration["ratio_without_setup"],
            "<= 0.05",
            f"{again['cpu_outside_llm_s'] - again['setup_cpu_s']:.2f} vs "
            f"{first['cpu_outside_llm_s'] - first['setup_cpu_s']:.2f} s; set-up {again['setup_cpu_s']} vs "
            f"{first['setup_cpu_s']} s",
        )
        add(
            "regeneration: load stage CPU, 2nd run / 1st run",
            regeneration["load_ratio"],
            "<= 0.05",
            f"{again['pages_from_cache']} pages from the cache, {again['pages_rendered']} rendered",
        )
    if "decontamination" in results:
        found = results["decontamination"]
        for what, key, bound in (
            ("eval pages caught", "recall", "page_bound_bits"),
            ("unrelated pages matched", "false_positive_pages", "page_bound_bits"),
            ("unrelated pages like an eval image (pairs checked)", "false_positive_pages_at_pair_bound", "pair_bound_bits"),
        ):
            caught, total = map(int, found[key].split("/"))
            add(
                f"decontamination: {what}, held-out half",
                caught / total,
                "",
                f"{found[key]} within {found[bound]} of 256 bits (chosen on the other half)",
            )
        add(
            "decontamination: page check / PNG decode, ms per page",
            ratio(found["hash_ms_per_page"] + found["lookup_ms_per_page"], found["decode_ms_per_page"]),
            "",
            f"hashing {found['hash_ms_per_page']} + lookup among {found['index_items']} images "
            f"{found['lookup_ms_per_page']} vs decode {found['decode_ms_per_page']} ms; two fills of one form "
            f"{found['form_other_fill_distance']} bits apart",
        )
    if "scaling" in results:
        scaling = results["scaling"]
        add(
            "scaling: load stage pages/s, 2 / 1 processes",
            scaling["ratio"],
            "",
            f"{scaling['2_process']['pages_per_s']} vs {scaling['1_process']['pages_per_s']} pages/s, "
            f"{scaling['1_process']['cpu_ms_per_page']} CPU ms a page in 1 process",
        )
    if "scale" in results:
        scale = results["scale"]
        largest, smallest = scale["points"][str(scale["largest"])], scale["points"][str(SIZES[0])]
        for n, point in scale["points"].items():
            add(
                f"scale: driver CPU ms per document (absolute), {int(n) // 1000}k documents",
                point["driver_cpu_ms_per_doc"],
                "<= 1",
                f"{point['driver_cpu_s']} s for {point['documents']} documents; load generator, not a model",
            )
        growth = f"{scale['largest'] // 1000}k / 1k documents"
        add(
            f"scale: driver CPU per document, {growth}",
            scale["driver_cpu_per_doc_ratio"],
            "<= 1.2",
            f"{largest['driver_cpu_ms_per_doc']} vs {smallest['driver_cpu_ms_per_doc']} ms",
        )
        add(
            f"scale: driver peak RSS, {growth}",
            scale["driver_peak_rss_ratio"],
            "<= 1.2",
            f"{largest['driver_peak_rss_mb']} vs {smallest['driver_peak_rss_mb']} MiB",
        )
        add(
            f"scale: wall time per document, {growth}",
            scale["wall_per_doc_ratio"],
            "<= 1.2",
            f"{largest['wall_ms_per_doc']} vs {smallest['wall_ms_per_doc']} ms",
        )
    return rows


def format_rows(results: dict) -> dict[str, list[list[str]]]:
    tables = {}
    for corpus, measured in results.get("encoding", {}).items():
        tables[corpus] = [
            [
                name,
                f"{f['ms_per_page']}",
                f"{f['kb_per_page']}",
                f"{f['time_vs_default']:.2f}",
                f"{f['size_vs_default']:.2f}",
                "lossless" if f["lossless"] else f"{f['psnr_db_median']} / {f['psnr_db_min']}",
            ]
            for name, f in measured["formats"].items()
        ]
    return tables


def markdown(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths]] + rows
    return "\n".join("| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |" for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--output", default=str(PROJECT_ROOT / "bench" / "results.json"), help="where to write the figures"
    )
    parser.add_argument(
        "--scale-max",
        type=int,
        default=DEFAULT_MAX,
        choices=SIZES,
        help=f"largest corpus of the scale probe (default {DEFAULT_MAX}; 16000 adds ~25 min on 2 cores)",
    )
    args = parser.parse_args()
    selected = set(args.only.split(",")) if args.only else set(BENCHMARKS)
    if selected - set(BENCHMARKS):
        parser.error(f"unknown benchmark(s): {', '.join(sorted(selected - set(BENCHMARKS)))}")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # before vLLM is imported: keeps the tables readable
    with other_load() as whole, tempfile.TemporaryDirectory(prefix="bench-") as work:
        label, results, conditions = run(selected, Path(work), args.scale_max)
    report = {
        "command": " ".join(["python -m bench"] + sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "engine_corpus": label,
        "wall_s": whole["wall_s"],
        "other_load_cores": whole["other_load_cores"],
        "conditions": conditions,  # per benchmark: wall time, cores kept busy by other processes meanwhile
        "results": results,
    }
    if "scale" in results:
        report["docmatix_estimate"] = docmatix_estimate(results)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print()
    header = ["figure", "ratio", "target", "met", "measured side by side", "other load (cores)"]
    print(markdown(header, summary_rows(results, conditions)))
    for corpus, rows in format_rows(results).items():
        print(f"\nPage image formats, {corpus} corpus (time and size relative to the default PNG):\n")
        print(markdown(["format", "ms/page", "KB/page", "time x", "size x", "PSNR dB median / min"], rows))
    if "scale" in results:
        print(f"\nScale probe, the whole pipeline through Ray; the model is a {results['scale']['load_generator']}:\n")
        print(markdown(SUMMARY_HEADER, scale_rows(results["scale"])))
        print("\nDocmatix-size run on 8 H100s, estimated from these figures (bench/estimate.py):\n")
        print(markdown(["what", "takes", "from"], estimate_rows(report["docmatix_estimate"])))
    print(
        f"\n{report['machine']['cpu_model']}, {report['machine']['cores']} cores, {report['machine']['memory_gib']} "
        f"GiB; {report['wall_s']} s, other processes kept {report['other_load_cores']} cores busy on average; "
        f"figures in {args.output}"
    )


if __name__ == "__main__":
    main()
