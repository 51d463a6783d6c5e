"""The few lines a run ends with: what went in, what came out and why the rest did not, where it all is,
and what to do next. The full figures are in stats.json and the dataset card."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docqa.ingest.sources import is_url

TOP_REASONS = 3  # reasons named per line; the rest are counted together
REASON_CHARS = 60  # a reason can hold an exception's message: the summary shows its start


def top_reasons(counts: Mapping[str, int]) -> str:
    """The commonest reasons with their counts; a reason's details in brackets are left out, so that "not a
    PDF (no %PDF header)" and "no QA pair kept (ungrounded: 2)" count with their kind."""
    grouped: Counter = Counter()
    for reason, n in counts.items():
        grouped[reason.split(" (")[0]] += n
    ranked = grouped.most_common()
    named = [f"{reason[:REASON_CHARS]}{'...' * (len(reason) > REASON_CHARS)} {n}" for reason, n in ranked[:TOP_REASONS]]
    rest = sum(n for _, n in ranked[TOP_REASONS:])
    return ", ".join(named + ([f"other {rest}"] if rest else []))


def duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def cost_line(cost: dict[str, Any]) -> str:
    """The run's resources and their price, as the card, the summary and the view say it."""
    prices = cost["prices"]
    per_1000 = cost["per_1000_kept_pairs"]
    stages = ", ".join(f"{stage} {s:,.1f}" for stage, s in cost["cpu_seconds_by_stage"].items())
    return (
        f"{cost['cpu_seconds']:,.1f} CPU seconds ({stages or 'none'}) and {cost['gpu_seconds']:,.1f} GPU seconds: "
        f"{cost['total']:.4f} {prices['currency']} at {prices['cpu_hour']} per CPU-hour and {prices['gpu_hour']} per "
        f"GPU-hour, " + (f"{per_1000:.4f} per 1,000 kept pairs" if per_1000 is not None else "no pair kept")
    )


def summary(stats: dict[str, Any], output: str, log: Path | None, default_output: str = "out/dataset") -> str:
    """The end of a run, in at most a dozen lines; `output` is where the dataset is (a folder or a URL)."""
    rejected = stats["documents_rejected"]
    reasons = stats.get("rejects_by_reason", {})
    dropped = stats["qa_dropped_by_reason"]
    splits = ", ".join(f"{split} {n}" for split, n in stats["examples_per_split"].items())
    lines = [
        f"Done in {duration(stats['wall_seconds'])}.",
        f"  inputs     {stats['inputs']}: {stats['documents_in_dataset']} document(s) in the dataset, "
        f"{rejected} rejected" + (f" ({top_reasons(reasons)})" if rejected and reasons else ""),
        f"  examples   {stats['examples']}" + (f" ({splits})" if splits else "") + f", {stats['pages']} page(s)",
        f"  QA pairs   {stats['qa_generated']} generated: {stats['qa_kept']} kept, {sum(dropped.values())} dropped"
        + (f" ({top_reasons(dropped)})" if dropped else ""),
        f"  tokens     {stats['prompt_tokens']:,} in, {stats['output_tokens']:,} out",
        *([f"  cost       {cost_line(stats['cost'])}"] if "cost" in stats else []),
        f"  dataset    {output} (card: {output.rstrip('/')}/README.md)",
    ]
    if log is not None:
        lines.append(f"  log        {log}")
    if not stats["examples"]:
        lines.append(
            "  No example was kept: the reasons above are counted in stats.json, listed in rejects/ and dropped/."
        )
    if not is_url(output):  # both read a local folder
        target = "" if output == default_output else f" OUTPUT={output}"
        lines.append(f"Next: make view{target}   (the examples and their answers' boxes, in a browser)")
        lines.append(f"      make push{target} REPO=<user or org>/<name>   (publish to the Hugging Face Hub)")
    return "\n".join(lines)
