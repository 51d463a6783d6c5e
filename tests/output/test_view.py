"""The dataset view: built from a dataset the real writer wrote (real page images and word boxes from the
load stage), read as HTML, then opened in a real headless Chromium driven through its DevTools protocol."""

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from itertools import count

import pytest
from PIL import Image

from docqa.__main__ import main
from docqa.config import InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.ingest.load import LoadDocuments
from docqa.output.hub import folder_files
from docqa.output.schema import RunInfo
from docqa.output.view import view_folder, write_view
from docqa.output.writer import DatasetWriter
from docqa.records import AnnotatedWindow, DroppedPair, QAPair, SourceDocument, extend
from tests.conftest import free_port

CHROMIUM = shutil.which("chromium")


def longest_word(window, image: int) -> tuple[str, list[float]]:
    words = window.words[image]
    j = max(range(len(words.text)), key=lambda k: len(words.text[k]))
    return words.text[j], words.boxes[j]


@pytest.fixture(scope="module")
def dataset(sample_corpus, tmp_path_factory):
    """The sample PDFs, each window with one pair printed on its last page (a real word and its box), one
    pair not found on any page and one dropped pair; plus a file that is not a PDF."""
    bad = tmp_path_factory.mktemp("bad") / "not-a-pdf.pdf"
    bad.write_text("hello")
    sources = [str(p) for p in sample_corpus] + [str(bad)]
    loaded = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig())(
        [SourceDocument(s) for s in sources]
    )
    windows = []
    for w in loaded:
        a = extend(
            AnnotatedWindow,
            w,
            prompt_id="p-v1",
            prompt_sha256="abc",
            prompt_token_ids=[2, 5],
            model="m",
            finish_reason="stop",
        )
        if w.error is None:
            last = len(w.images) - 1
            word, box = longest_word(w, last)
            a.qa = [
                QAPair(f"Which is the longest word on page {w.pages[last] + 1}?", word, 1.0, last, [box]),
                QAPair("What colour is the cover?", "Blue <b>", 0.0),
            ]
            a.dropped = [DroppedPair(f"Is window {w.window} dull?", "Yes", "ungrounded", 0.1)]
        windows.append(a)
    out = tmp_path_factory.mktemp("ds") / "dataset"
    writer = DatasetWriter(out, RunInfo(0.2, 0.95, 256, 0), 100, 2, 0)
    writer.add(windows)
    writer.close(sources, "", lambda stats: "card\n", {"wall_seconds": 12.5, "model": "m"})
    return out, [w for w in windows if w.error is None]


def test_the_view_shows_every_example_page_by_page_beside_the_dataset(dataset, capsys):
    out, windows = dataset
    assert main(["view", str(out), "--per-page", "2"]) == 0
    view = view_folder(out)
    assert f"View written to {view / 'index.html'}" in capsys.readouterr().out
    assert view.parent == out.parent and not any(name.endswith(".html") for name in folder_files(out).files)
    index = (view / "index.html").read_text()
    assert ">Examples (5)<" in index and all(f'href="examples-000{n}.html"' in index for n in (1, 2, 3))
    assert 'src="report/drop_rates.png"' in index and (view / "report" / "drop_rates.png").is_file()
    pages = [(view / f"examples-000{n}.html").read_text() for n in (1, 2, 3)]
    assert [page.count('class="example"') for page in pages] == [2, 2, 1]
    assert (
        "next" in pages[0]
        and 'href="examples-0002.html">next' in pages[0]
        and 'href="examples-0003.html"' not in pages[2]
    )
    for w in windows:  # each example on one page, with its images as files, its pairs and its dropped pair
        page = next(p for p in pages if f'id="{w.doc_id[:24]}-{w.window}"' in p)
        section = page.split(f'id="{w.doc_id[:24]}-{w.window}"')[1].split('class="example"')[0]
        assert section.count("<img ") == len(w.images) and f"Is window {w.window} dull?" in section
        assert "Blue &lt;b&gt;" in section and "not found" in section and "<code>ungrounded</code>" in section
    assert len(list((view / "images").iterdir())) == sum(len(w.images) for w in windows)


def test_rejects_are_listed_by_reason_with_links_from_the_index(dataset):
    out, _ = dataset
    write_view(out)
    index = (view_folder(out) / "index.html").read_text()
    link = index.split('href="rejects.html#')[1].split('"')[0]
    assert "load: not a PDF (no %PDF header)</a>" in index
    rejects = (view_folder(out) / "rejects.html").read_text()
    assert f'id="{link}">load: not a PDF (no %PDF header) (1)<' in rejects and "not-a-pdf.pdf" in rejects


def test_a_folder_that_is_not_a_dataset_is_one_line_and_exit_code_2(tmp_path, capsys):
    assert main(["view", str(tmp_path / "missing")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not a dataset folder" in error and "make dataset" in error


class DevTools:
    """A page in headless Chromium, driven through the DevTools protocol; it keeps the errors the page
    logs (script errors, console errors, files that fail to load)."""

    def __init__(self, socket):
        self.socket = socket
        self.ids = count(1)
        self.errors: list[str] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params):
        sent = next(self.ids)
        self.socket.send(json.dumps({"id": sent, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == sent:
                assert "error" not in message, message
                return message["result"]
            self._event(message)

    def _event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.errors.append(f"console.{params['type']}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"] + " " + params["entry"].get("url", ""))

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            self._event(message)
            if message.get("method") == "Page.loadEventFired":
                return

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]


@pytest.fixture
def browser(tmp_path):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (`make install` tries `apt-get install chromium`)")
    from websockets.sync.client import connect

    port = free_port()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--remote-debugging-port={port}",
        "--window-size=1280,1000",
        "about:blank",
    ]
    process = subprocess.Popen([CHROMIUM, *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5))
                page = next(t for t in targets if t["type"] == "page")
                break
            except (OSError, StopIteration):
                assert process.poll() is None and time.monotonic() < deadline, "chromium did not start"
                time.sleep(0.5)
        with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            yield DevTools(socket)
    finally:
        process.terminate()
        process.wait(timeout=30)


MEASURE_BOXES = """[...document.querySelectorAll('.box')].map(box => {
  const img = box.parentElement.querySelector('img'), r = img.getBoundingClientRect(), b = box.getBoundingClientRect();
  const scale = img.naturalWidth / r.width;
  return {example: box.closest('section').id, image: img.getAttribute('src'), pair: box.dataset.pair,
          box: [(b.left - r.left) * scale, (b.top - r.top) * scale, (b.right - r.left) * scale, (b.bottom - r.top) * scale],
          css: [b.left + scrollX, b.top + scrollY, b.width, b.height]};
})"""


def test_in_a_browser_each_answer_is_boxed_where_it_is_printed(dataset, browser, tmp_path):
    out, windows = dataset
    index = write_view(out, per_page=10)
    browser.open(index.as_uri())
    assert browser.evaluate("document.querySelectorAll('.plots img').length") == 4
    assert browser.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    browser.open((index.parent / "examples-0001.html").as_uri())
    assert browser.evaluate("[...document.images].filter(i => i.complete && i.naturalWidth > 0).length") == sum(
        len(w.images) for w in windows
    )
    boxes = browser.evaluate(MEASURE_BOXES)
    assert len(boxes) == len(windows)
    for w in windows:
        last = len(w.images) - 1
        measured = next(b for b in boxes if b["example"] == f"{w.doc_id[:24]}-{w.window}")
        assert measured["image"].endswith(f"-{last}.png") and measured["pair"] == "1"
        assert measured["box"] == pytest.approx(longest_word(w, last)[1], abs=3)  # pixels of the page image
    first = boxes[0]["css"]
    clip = {"x": first[0] - 40, "y": first[1] - 40, "width": first[2] + 80, "height": first[3] + 80, "scale": 1}
    shot = browser.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
    path = tmp_path / "box.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    with Image.open(path) as image:
        red = image.convert("RGB").getpixel((41, 40 + round(first[3] / 2)))  # on the box's left border
    assert red[0] > 150 and red[1] < 110 and red[2] < 110, red
    browser.open((index.parent / "rejects.html").as_uri())
    assert browser.errors == []  # on any of the three pages: no script error, no file that failed to load


def test_the_index_names_what_each_eval_set_kept_out(dataset, tmp_path):
    out, _ = dataset
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    stats = json.loads((copy / "stats.json").read_text())
    stats["quality"]["removed_as_contaminated"] = {"docvqa-test": {"windows_removed": 2, "pages_removed": 3, "pairs_removed": 1}}
    (copy / "stats.json").write_text(json.dumps(stats))
    write_view(copy)
    index = (view_folder(copy) / "index.html").read_text()
    assert "kept out as in docvqa-test" in index and "2 windows, 3 pages, 1 pairs" in index
