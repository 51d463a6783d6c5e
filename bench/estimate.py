"""How long a Docmatix-size run would take on 8 H100s, from this bench's measurements and published figures.

The pipeline streams: loading (CPU), generation (GPU) and the driver's per-document work overlap, and
the dataset's assembly starts after the last generation. So the run lasts as long as generation plus the
assembly, or as the driver's CPU time (its per-document work and the assembly, serial in one process),
whichever is longer, given the CPU cores that keep loading ahead of the GPUs. Each part is computed from
one measured or published figure, named beside it:

- generation: output tokens / (GPUs x output tokens/s per GPU), the throughput *published* for vLLM on one
  H100 (not measured here: this machine has no GPU);
- CPU stages (loading, OCR, prompts, parsing): pages x measured CPU ms per page; the estimate gives the
  cores it takes to keep pace with the GPUs, so they never bound the run;
- the driver: documents x its measured CPU ms per document (`bench/scale.py`), in one process, so serial.
  An upper bound: most of that CPU is Ray Data's scheduling loop and output poll, which spend a share of a
  core per second of the run (the probe reports it), not per document;
- the assembly: the probe's time after its last completion, per document, times the documents, spread over
  the node's cores as the probe's was over its own (parts are Ray tasks, two per CPU): linear in both,
  which is assumed, not measured beyond 2 cores.
"""

from __future__ import annotations

# Docmatix (HuggingFaceM4/Docmatix, as the issue states it): PDFs, pages (images), output tokens generated.
DOCMATIX = {"pdfs": 1_300_000, "pages": 2_400_000, "output_tokens": 390_000_000}
GPUS = 8
TARGET_HOURS = 4.0
# Published, not measured here: MLPerf Inference v5.1, Red Hat's submission, Llama 3.1 8B (FP8) with vLLM
# 0.10.0 on one H100, Offline scenario: 5,777 tokens/s (Server scenario: 5,103). Red Hat Developer blog,
# "Efficient and reproducible LLM inference: Red Hat MLPerf Inference v5.1 results" (2025).
H100_OUTPUT_TOKENS_PER_S = 5777.0
H100_SOURCE = "MLPerf Inference v5.1 (Red Hat, vLLM 0.10.0, Llama 3.1 8B FP8, 1 H100, Offline), published"
# Measured here (README, "Bad, scanned and hostile PDFs"): Tesseract at 300 dpi, median per page on 2 cores.
OCR_S_PER_PAGE = 3.7
# PDFA, Docmatix's source, is mostly born-digital (shared NOTES); the share needing OCR is an assumption.
OCR_SHARE = 0.0
# The CPU cores of the 8-GPU node: a DGX H100 has two 56-core Xeon Platinum 8480C (NVIDIA's datasheet).
NODE_CPU_CORES = 112


def docmatix_estimate(results: dict) -> dict:
    """Hours per stage for Docmatix on `GPUS` H100s, the bound, and the CPU cores loading needs.

    Reads `results["scale"]` (driver CPU per document, stage CPU per page, the assembly tail, at the largest
    corpus measured) and `results["scaling"]` (load CPU per page on real PDFs) when the run has it; without
    it, the probe's load CPU per page on its small generated PDFs, which is lower.
    """
    scale = results["scale"]
    point = scale["points"][str(scale["largest"])]
    if "scaling" in results:
        load_ms = results["scaling"]["1_process"]["cpu_ms_per_page"]
        load_from = "bench scaling: 1 load process, real PDFs"
    else:
        load_ms = point["stage_cpu_s"]["load"] / point["pages"] * 1000
        load_from = "scale probe's load stage, small generated PDFs"
    other_ms = sum(s for stage, s in point["stage_cpu_s"].items() if stage not in ("load", "generate"))
    other_ms = other_ms / point["pages"] * 1000
    ocr_ms = OCR_SHARE * OCR_S_PER_PAGE * 1000

    gpu_h = DOCMATIX["output_tokens"] / (GPUS * H100_OUTPUT_TOKENS_PER_S) / 3600
    cpu_core_h = DOCMATIX["pages"] * (load_ms + ocr_ms + other_ms) / 1000 / 3600
    driver_h = DOCMATIX["pdfs"] * point["driver_cpu_ms_per_doc"] / 1000 / 3600
    spread = scale.get("cores", 2) / NODE_CPU_CORES  # the probe's cores over the node's
    tail_h = DOCMATIX["pdfs"] * point["after_last_completion_s"] / point["documents"] * spread / 3600
    # The driver's CPU time covers its share of the streaming and the assembly, serially, in one process.
    paths = {"generation (GPU), then the assembly": gpu_h + tail_h, "the driver (one process)": driver_h}
    bound = max(paths, key=paths.get)
    total_h = paths[bound]
    return {
        "inputs": {
            **DOCMATIX,
            "gpus": GPUS,
            "h100_output_tokens_per_s": H100_OUTPUT_TOKENS_PER_S,
            "h100_source": H100_SOURCE,
            "load_cpu_ms_per_page": round(load_ms, 1),
            "load_from": load_from,
            "prompt_parse_cpu_ms_per_page": round(other_ms, 1),
            "ocr_share": OCR_SHARE,
            "ocr_s_per_page": OCR_S_PER_PAGE,
            "driver_cpu_ms_per_doc": point["driver_cpu_ms_per_doc"],
            "driver_core_share": point.get("driver_core_share"),
            "probe_cores": scale.get("cores", 2),
            "node_cpu_cores": NODE_CPU_CORES,
            "assembly_ms_per_doc": round(point["after_last_completion_s"] / point["documents"] * 1000, 2),
            "measured_at_documents": point["documents"],
        },
        "generation_h": round(gpu_h, 2),
        # what each GPU must sustain for generation and the assembly to fit the target
        "tokens_per_s_per_gpu_for_target": (
            round(DOCMATIX["output_tokens"] / (GPUS * (TARGET_HOURS - tail_h) * 3600)) if tail_h < TARGET_HOURS else None
        ),
        "cpu_stage_core_h": round(cpu_core_h, 1),
        "cpu_cores_to_keep_pace": round(cpu_core_h / gpu_h),
        "cpu_cores_per_10pct_ocr": round(DOCMATIX["pages"] * 0.1 * OCR_S_PER_PAGE / 3600 / gpu_h),
        "driver_h": round(driver_h, 2),
        "assembly_h": round(tail_h, 2),
        "bound": bound,
        "total_h": round(total_h, 2),
        "target_h": TARGET_HOURS,
        "met": total_h <= TARGET_HOURS,
    }


def estimate_rows(estimate: dict) -> list[list[str]]:
    """The estimate as a table: what, hours (or cores), and where the figure comes from."""
    given = estimate["inputs"]
    per_gpu = estimate["tokens_per_s_per_gpu_for_target"]
    needed = (
        f"{estimate['target_h']:g} h with the assembly needs {per_gpu:,} tokens/s per GPU"
        if per_gpu
        else "the assembly alone exceeds the target"
    )
    return [
        [
            "generation",
            f"{estimate['generation_h']} h",
            f"{given['output_tokens'] / 1e6:.0f}M output tokens / ({given['gpus']} x "
            f"{given['h100_output_tokens_per_s']:,.0f} tokens/s: {given['h100_source']}); {needed}",
        ],
        [
            "driver, per document (serial)",
            f"{estimate['driver_h']} h",
            f"{given['pdfs'] / 1e6:.1f}M PDFs x {given['driver_cpu_ms_per_doc']} CPU ms (scale probe, "
            f"{given['measured_at_documents']:,} documents); an upper bound: the driver kept "
            f"{given['driver_core_share'] or 0:.1%} of one core busy, mostly polling",
        ],
        [
            "assembly after the last generation",
            f"{estimate['assembly_h']} h",
            f"{given['pdfs'] / 1e6:.1f}M PDFs x {given['assembly_ms_per_doc']} ms on {given['probe_cores']} cores "
            f"(scale probe), spread over the node's {given['node_cpu_cores']} (linear: assumed)",
        ],
        [
            "CPU stages: load, OCR, prompt, parse",
            f"{estimate['cpu_stage_core_h']} core-h: {estimate['cpu_cores_to_keep_pace']} cores keep pace",
            f"{given['pages'] / 1e6:.1f}M pages x ({given['load_cpu_ms_per_page']} load ({given['load_from']}) + "
            f"{given['prompt_parse_cpu_ms_per_page']} prompt and parse (scale probe) CPU ms), OCR on "
            f"{given['ocr_share']:.0%} of pages; each 10% OCRed at {given['ocr_s_per_page']} s adds "
            f"{estimate['cpu_cores_per_10pct_ocr']} cores",
        ],
        [
            "whole run",
            f"{estimate['total_h']} h",
            f"bound by {estimate['bound']}; target <= {estimate['target_h']:g} h: "
            f"{'met' if estimate['met'] else 'NOT met'}",
        ],
    ]


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    from bench.__main__ import markdown

    # python -m bench.estimate [RESULTS.json]: the estimate from a results file with the scale probe's figures
    report = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results.json").read_text())
    print(markdown(["what", "takes", "from"], estimate_rows(docmatix_estimate(report["results"]))))
