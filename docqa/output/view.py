"""A static HTML view of a built dataset, for reading it before publishing: `python -m docqa view OUT`.

It is written beside the dataset, in `<OUT>.view/`, so neither `make push` nor an upload publishes it,
and it opens from disk with no server and no script. `index.html` shows the run's figures and the
quality plots, then links to the examples, `per_page` a page: each example's page images with the boxes
where its kept answers are printed, drawn and numbered as the pairs, its QA pairs with their support,
and the pairs the filters dropped from that window with their reasons. `rejects.html` lists every
rejected document or window, grouped by reason. Page images are written as files and linked, and the
shards are read a few rows at a time, so a dataset of thousands of examples stays light to view and to
build the view of.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from PIL import Image

from docqa.errors import UserError
from docqa.output.report import PLOTS
from docqa.output.schema import SPLITS
from docqa.output.summary import cost_line

PAIR_EXTRAS = ("origin", "language")  # optional row columns shown per pair (a list) or per example (a value)
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1280px; padding: 1em 2em; color: #222 }
nav { margin: 1em 0; display: flex; gap: 1.5em }
table { border-collapse: collapse; margin: .5em 0 1.5em }
td, th { border: 1px solid #ccc; padding: 3px 8px; vertical-align: top; text-align: left }
th { background: #f3f3f3 } .num { text-align: right }
.example { border-top: 3px solid #346; padding-top: .5em; margin-top: 2em }
.meta { color: #555 }
.pages { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start }
figure { margin: 0 } figcaption { color: #555 }
.page { position: relative; display: inline-block; width: 640px; max-width: 100%; border: 1px solid #bbb }
.page img { display: block; width: 100%; height: auto }
.box { position: absolute; box-sizing: border-box; border: 2px solid var(--c);
       background: color-mix(in srgb, var(--c) 15%, transparent) }
.box span { position: absolute; right: 100%; top: -2px; margin-right: 2px; padding: 0 4px;
            background: var(--c); color: #fff; font-size: 11px }
.tag { display: inline-block; min-width: 1.4em; text-align: center; color: #fff; background: var(--c) }
.plots img { max-width: 100%; display: block; margin-bottom: 1em }
.dropped td { color: #666 }
"""
COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
SUMMARY = (  # stats.json keys shown on the index page, with their labels
    ("inputs", "inputs"),
    ("documents_in_dataset", "documents in the dataset"),
    ("documents_rejected", "documents rejected"),
    ("examples", "examples"),
    ("pages", "pages"),
    ("qa_generated", "QA pairs generated"),
    ("qa_kept", "QA pairs kept"),
    ("prompt_tokens", "prompt tokens"),
    ("output_tokens", "output tokens"),
    ("wall_seconds", "wall time (s)"),
    ("model", "model"),
)


def view_folder(dataset: Path) -> Path:
    """Where the view of `dataset` goes: beside it, so it is never published with it."""
    return dataset.with_name(dataset.name + ".view")


def write_view(dataset: str | Path, per_page: int = 20) -> Path:
    """Write the view of the dataset folder `dataset`, in place of an earlier one; returns its index.html."""
    dataset = Path(dataset)
    if per_page < 1:
        raise UserError(f"examples per page must be at least 1, not {per_page}")
    if "://" in str(dataset):
        raise UserError(f"{dataset} is a URL: the view reads a local dataset folder; download it first")
    if not (dataset / "stats.json").is_file():
        raise UserError(f"{dataset} is not a dataset folder (no stats.json): run `make dataset`, or give OUTPUT=...")
    view = view_folder(dataset)
    if view.exists():
        shutil.rmtree(view)
    (view / "images").mkdir(parents=True)
    stats = json.loads((dataset / "stats.json").read_text())
    if (dataset / "report").is_dir():
        shutil.copytree(dataset / "report", view / "report")
    rejects = _read_table(dataset / "rejects")
    dropped = defaultdict(list)
    for pair in _read_table(dataset / "dropped"):
        dropped[pair["doc_id"], tuple(pair["pages"])].append(pair)
    total = sum(pq.ParquetFile(path).metadata.num_rows for _, path in _shards(dataset))
    pages = max(1, -(-total // per_page))
    page, number = [], 0
    for split, row in _rows(dataset):
        number += 1
        page.append(_example(number, split, row, dropped[row["doc_id"], tuple(row["pages"])], view))
        if len(page) == per_page:
            _write_examples(view, number // per_page, pages, total, page)
            page = []
    if page or not total:
        _write_examples(view, pages, pages, total, page)
    (view / "rejects.html").write_text(_rejects_page(rejects))
    index = view / "index.html"
    index.write_text(_index_page(dataset, stats, rejects, total, per_page))
    return index


def _shards(dataset: Path) -> Iterator[tuple[str, Path]]:
    for split in SPLITS:
        for path in sorted((dataset / "data").glob(f"{split}-*.parquet")):
            yield split, path


def _rows(dataset: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every example, a few rows in memory at a time (their images are the weight)."""
    for split, path in _shards(dataset):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=8):
            for row in batch.to_pylist():
                yield split, row


def _read_table(folder: Path) -> list[dict[str, Any]]:
    return [row for path in sorted(folder.glob("*.parquet")) for row in pq.read_table(path).to_pylist()]


def _page_name(page: int) -> str:
    return f"examples-{page:04d}.html"


def _document(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _table(header: list[str], rows: list[list[str]], css: str = "") -> str:
    """An HTML table; cells are HTML already (escape text before)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><tr>{head}</tr>{body}</table>'


def _reason(reject: dict[str, Any]) -> str:
    """What rejects are grouped by: the stage and what went wrong."""
    return f"{reject['stage']}: {reject['reason']}"


def _anchor(reason: str) -> str:
    return "r-" + hashlib.sha1(reason.encode()).hexdigest()[:12]


def _index_page(dataset: Path, stats: dict[str, Any], rejects: list[dict[str, Any]], total: int, per_page: int) -> str:
    figures = [
        [escape(label), f'<span class="num">{escape(str(stats[key]))}</span>'] for key, label in SUMMARY if key in stats
    ]
    splits = ", ".join(f"{name}: {n}" for name, n in stats.get("examples_per_split", {}).items())
    figures.append(["examples per split", escape(splits or "none")])
    if "cost" in stats:
        figures.append(["cost", escape(cost_line(stats["cost"]))])
    if "pipeline_version" in stats:
        figures.append(["pipeline, schema", escape(f"{stats['pipeline_version']}, rows v{stats['schema_version']}")])
    for eval_set, removed in stats.get("quality", {}).get("removed_as_contaminated", {}).items():
        counts = ", ".join(f"{n} {what.removesuffix('_removed')}" for what, n in removed.items())
        figures.append([f"kept out as in {escape(eval_set)}", escape(counts)])
    dropped = [
        [f"<code>{escape(r)}</code>", str(n)] for r, n in Counter(stats.get("qa_dropped_by_reason", {})).most_common()
    ]
    plots = "".join(
        f'<img src="report/{name}" alt="{escape(title)}">'
        for name, (title, _) in PLOTS.items()
        if (dataset / "report" / name).exists()
    )
    links = []
    for page in range(1, -(-total // per_page) + 1):
        first, last = (page - 1) * per_page + 1, min(page * per_page, total)
        links.append(f'<a href="{_page_name(page)}">{first}-{last}</a>')
    reasons = Counter(_reason(r) for r in rejects)
    reject_rows = [[f'<a href="rejects.html#{_anchor(r)}">{escape(r)}</a>', str(n)] for r, n in reasons.most_common()]
    return _document(
        f"{dataset.name}: dataset view",
        f"<h1>{escape(dataset.name)}</h1><p class=meta>{escape(str(dataset.resolve()))}</p>"
        f"<h2>The run</h2>{_table(['', ''], figures)}"
        f"<h2>Examples ({total})</h2><p>{' · '.join(links) or 'No example: every input was rejected.'}</p>"
        f"<h2>Dropped QA pairs by reason</h2>{_table(['reason', 'pairs'], dropped) if dropped else '<p>none</p>'}"
        f"<h2>Rejected documents and windows ({len(rejects)})</h2>"
        f"{_table(['reason', 'rejects'], reject_rows) if rejects else '<p>none</p>'}"
        "<p><a href=rejects.html>all rejects</a></p>"
        f'<h2>Quality</h2><div class="plots">{plots}</div>',
    )


def _write_examples(view: Path, page: int, pages: int, total: int, examples: list[str]) -> None:
    links = ['<a href="index.html">index</a>']
    links.append(f'<a href="{_page_name(page - 1)}">previous</a>' if page > 1 else "<span>previous</span>")
    links.append(f'<a href="{_page_name(page + 1)}">next</a>' if page < pages else "<span>next</span>")
    nav = f"<nav>{''.join(links)}<span>page {page} of {pages} ({total} examples)</span></nav>"
    (view / _page_name(page)).write_text(_document(f"examples, page {page}", nav + "".join(examples) + nav))


def _image_file(data: bytes) -> tuple[str, tuple[int, int]]:
    """The file extension and pixel size of an encoded page image (PIL reads only its header here)."""
    with Image.open(io.BytesIO(data)) as image:
        return {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}.get(image.format, "img"), image.size


def _example(number: int, split: str, row: dict[str, Any], dropped: list[dict[str, Any]], view: Path) -> str:
    """One example: its images with the answers' boxes, its QA pairs, the pairs dropped from its window."""
    pairs, grounding = row["texts"], row["grounding"]
    extras = {name: row[name] for name in PAIR_EXTRAS if name in row}
    figures = []
    for index, image in enumerate(row["images"]):
        extension, (width, height) = _image_file(image["bytes"])
        name = f"images/{row['id']}-{index}.{extension}"
        (view / name).write_bytes(image["bytes"])
        boxes = []
        for pair, where in enumerate(grounding, 1):
            if where["page"] != index:
                continue
            for x0, y0, x1, y1 in where["boxes"]:
                place = (
                    f"left:{100 * x0 / width:.3f}%;top:{100 * y0 / height:.3f}%;"
                    f"width:{100 * (x1 - x0) / width:.3f}%;height:{100 * (y1 - y0) / height:.3f}%"
                )
                boxes.append(
                    f'<div class="box" data-pair="{pair}" style="{place};--c:{_colour(pair)}"><span>{pair}</span></div>'
                )
        figures.append(
            f'<figure><div class="page"><a href="{name}"><img src="{name}" width="{width}" height="{height}" '
            f'alt="page {row["pages"][index] + 1}"></a>{"".join(boxes)}</div>'
            f"<figcaption>page {row['pages'][index] + 1} (image {index})</figcaption></figure>"
        )
    header = ["#", "question", "answer", "support", "printed on"]
    per_pair = {name: value for name, value in extras.items() if isinstance(value, list) and len(value) == len(pairs)}
    header += list(per_pair)
    rows = []
    for pair, (qa, where) in enumerate(zip(pairs, grounding), 1):
        place = f"image {where['page']}, {len(where['boxes'])} box(es)" if where["page"] >= 0 else "not found"
        cells = [
            f'<span class="tag" style="--c:{_colour(pair)}">{pair}</span>',
            escape(qa["user"]),
            escape(qa["assistant"]),
        ]
        cells += [f"{where['support']:.2f}", place] + [escape(str(value[pair - 1])) for value in per_pair.values()]
        rows.append(cells)
    dropped_rows = [
        [escape(d["question"]), escape(d["answer"]), f"<code>{escape(d['reason'])}</code>", f"{d['support']:.2f}"]
        for d in dropped
    ]
    facts = [
        split,
        f"{row['source_path']}",
        f"pages {', '.join(str(p + 1) for p in row['pages'])} of {row['page_count']}",
    ]
    facts += [row.get("prompt_id", "")] + [f"{name}: {value}" for name, value in extras.items() if name not in per_pair]
    return (
        f'<section class="example" id="{escape(row["id"])}"><h2>{number}. <code>{escape(row["id"])}</code></h2>'
        f'<p class="meta">{escape(" · ".join(f for f in facts if f))}</p>'
        f'<div class="pages">{"".join(figures)}</div>'
        f"<h3>QA pairs kept ({len(pairs)})</h3>{_table(header, rows) if rows else '<p>none</p>'}"
        f"<h3>Dropped from this window ({len(dropped)})</h3>"
        f"{_table(['question', 'answer', 'reason', 'support'], dropped_rows, 'dropped') if dropped else '<p>none</p>'}"
        "</section>"
    )


def _colour(pair: int) -> str:
    return COLOURS[(pair - 1) % len(COLOURS)]


def _rejects_page(rejects: list[dict[str, Any]]) -> str:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for reject in rejects:
        groups[_reason(reject)].append(reject)
    sections = []
    for reason, members in sorted(groups.items(), key=lambda group: -len(group[1])):
        rows = [
            [
                escape(r["source_path"]),
                escape(", ".join(str(p + 1) for p in r["pages"])),
                f"<code>{escape(r['doc_id'][:16])}</code>",
            ]
            for r in members
        ]
        heading = f'<h2 id="{_anchor(reason)}">{escape(reason)} ({len(members)})</h2>'
        sections.append(heading + _table(["document", "pages", "doc_id"], rows))
    body = "".join(sections) or "<p>No document was rejected.</p>"
    return _document("rejects", f'<nav><a href="index.html">index</a></nav><h1>Rejects ({len(rejects)})</h1>{body}')
