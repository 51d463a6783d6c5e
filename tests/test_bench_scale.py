"""The scale benchmark's generated corpus (`bench/scale.py`): documents the pipeline keeps, all of them.

If the generated PDFs needed OCR, the probe would measure OCR instead of the pipeline's per-document cost;
if they were near-copies, the stand-in model would answer them alike and the duplicate filter would drop
their pairs, so the documents would not reach the dataset as they do in a real run.
"""

import pymupdf

from bench.scale import write_scale_corpus
from docqa.ingest.text import check_text_layer
from tests.quality.test_dedup import near_copy_groups


def test_the_scale_corpus_is_distinct_one_and_two_page_documents_with_a_usable_text_layer(tmp_path):
    corpus = write_scale_corpus(tmp_path, 60)
    texts = {}
    for pdf, pages in corpus:
        with pymupdf.open(pdf) as doc:
            assert doc.page_count == pages
            text = [page.get_text() for page in doc]
        assert all(check_text_layer(page).usable for page in text), pdf.name
        texts[pdf.name] = "\n".join(text)
    assert sorted({pages for _, pages in corpus}) == [1, 2]
    groups = near_copy_groups(list(texts.items()))  # as the assembly groups them, at the default threshold
    assert all(group == name for name, group in groups.items())  # each its own group: no near-copies
