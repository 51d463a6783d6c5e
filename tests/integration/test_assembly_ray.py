"""The dataset assembled on Ray holds the rows, splits, drops and rejects the local assembly writes: keys grouped
by Ray Data's groupby, parts written by Ray tasks. Real Ray, real PDFs, no model (the QA pairs are given)."""

import pymupdf
import pytest

from docqa.config import InputConfig, LimitsConfig, RenderConfig, RunConfig, TextConfig
from docqa.ingest.load import LoadDocuments
from docqa.output.shards import split_of
from docqa.records import AnnotatedWindow, QAPair, extend
from docqa.runtime.units import UnitStore
from tests.output.test_assembly import assemble, corpus, written  # noqa: F401 (corpus: a fixture)

pytestmark = pytest.mark.integration


def test_ray_and_local_assembly_write_the_same_rows(tmp_path, corpus):  # noqa: F811
    import ray

    from docqa.runtime.ray_dag import RayAssembler

    sources, windows = corpus
    report = next(s for s in sources if s.endswith("/report.pdf"))
    reissued = tmp_path / "report-reissued.pdf"  # other bytes, nearly the same text: a near-copy
    with pymupdf.open(report) as doc:
        doc[0].insert_text((72, 40), "Re-issued with corrected typography", fontsize=8)
        doc.save(reissued)
    unit = UnitStore(tmp_path / "names", [*sources, str(reissued)]).units[-1]  # named as the stores below name it
    loaded = next(iter(LoadDocuments(InputConfig(), RenderConfig(), TextConfig(), LimitsConfig())([unit])))
    extra = extend(AnnotatedWindow, loaded, prompt_id="p-v1", model="m", finish_reason="stop")
    extra.qa, extra.unit_last = [QAPair("What was corrected in the re-issue?", "The typography")], True
    sources, windows = [*sources, str(reissued)], [*windows, extra]
    # a test fraction at which the re-issue and the report would land in different splits on their own hashes
    own = [next(w.doc_id for w in windows if w.source_path == report), extra.doc_id]
    fraction = next(f / 10**6 for f in range(1, 10**6) if len({split_of(d, f / 10**6) for d in own}) == 2)
    local = assemble(tmp_path / "local", sources, windows, test_fraction=fraction)
    try:
        assembler = RayAssembler(RunConfig(num_cpus=2))
        on_ray = assemble(tmp_path / "ray", sources, windows, assembler, test_fraction=fraction)
    finally:
        ray.shutdown()
    assert assembler.parts == 4  # more parts than the local assembly's one
    assert written(tmp_path / "ray" / "ds") == written(tmp_path / "local" / "ds")
    assert {k: v for k, v in on_ray.items() if k != "shards"} == {k: v for k, v in local.items() if k != "shards"}
    assert local["qa_dropped_by_reason"]["duplicate"] > 0
    rows, _, _ = written(tmp_path / "ray" / "ds")
    assert len({split for split, row in rows if "/report" in row["source_path"]}) == 1  # the near-copies share a split
