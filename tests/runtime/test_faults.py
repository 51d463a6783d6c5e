"""The three kinds of fault, on real stages and real runs: a bad document is a reject, a systemic fault
stops the run with what to fix, a bug in our code stops it with its traceback. Runs generate through
`tests.fakes.openai_server` (a stand-in endpoint, since the engine takes a minute to start)."""

import json
from pathlib import Path

import pytest

from docqa.config import FilterConfig, InputConfig, LimitsConfig, QAConfig, RenderConfig, RunConfig, TextConfig, load_config
from docqa.generate.prompts import load_template
from docqa.ingest.load import LoadDocuments
from docqa.quality.annotate import ParseQA
from docqa.records import Failure, GeneratedWindow, InputUnit, SourceDocument
from docqa.run import run_pipeline
from docqa.runtime.faults import SystemicFault, systemic_fault_in
from docqa.runtime.plan import StagePlan
from docqa.runtime.units import work_root
from tests.conftest import ROOT
from tests.corpora.hostile import _page_tree_cycle
from tests.fakes.openai_server import FakeEndpoint


def test_a_type_error_in_our_code_stops_the_run_instead_of_becoming_a_reject():
    """A window whose texts a bug left as None: before, it became a 'parse: TypeError' reject."""
    stage = ParseQA(FilterConfig(), [load_template(ROOT / "prompts", "docmatix-qa-completion-v1")])
    window = GeneratedWindow("a.pdf", "d" * 64, 1, 0, [0], texts=None, prompt_id="docmatix-qa-completion-v1",
                             completion='{"pairs": [{"question": "Q?", "answer": "A"}]}', finish_reason="stop")
    with pytest.raises(TypeError):
        stage([window])


def test_a_bug_in_the_load_worker_stops_the_run_with_the_worker_traceback(sample_corpus):
    """Settings a bug left as None reach the isolated worker; before, this became a 'load: AttributeError' reject."""
    stage = LoadDocuments(InputConfig(), None, TextConfig(ocr=False), LimitsConfig())
    with pytest.raises(AttributeError) as raised:
        stage([SourceDocument(str(sample_corpus[0]))])
    assert any("Raised in the isolated worker" in note and "_windows" in note for note in raised.value.__notes__)


def test_a_pymupdf_error_on_a_bad_file_is_a_reject_and_the_stage_goes_on(tmp_path, sample_corpus):
    bad = tmp_path / "page-tree-cycle.pdf"
    bad.write_bytes(_page_tree_cycle())
    stage = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(ocr=False), LimitsConfig())
    rejected, kept = stage([SourceDocument(str(bad)), SourceDocument(str(sample_corpus[0]))])
    assert rejected.error == Failure("load", "damaged_pdf", "page 2: FzErrorFormat: code=7: cycle in page tree")
    assert kept.error is None


def test_missing_ocr_language_data_stops_the_run_saying_what_to_install():
    stage = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(ocr_languages=["zz_missing"]), LimitsConfig())
    with pytest.raises(SystemicFault, match=r"apt-get install .*tesseract-ocr-zz-missing; or set text.ocr=false"):
        stage.ensure_setup()


def config(tmp_path, model_dir, endpoint, inputs, **run):
    overrides = [
        f"prompt.directory={ROOT / 'prompts'}", f"model.cache_dir={model_dir}", f"model.endpoint={endpoint}",
        "output.cache_dir=null", "text.ocr=false", "run.runner=local", f"output.dir={tmp_path / 'ds'}",
        f"input.paths={json.dumps([str(p) for p in inputs])}",
    ]
    overrides += [f"run.{key}={value}" for key, value in run.items()]
    return load_config(ROOT / "configs" / "default.yaml", overrides)


@pytest.fixture
def not_pdfs(tmp_path):
    paths = [tmp_path / f"bad-{i}.pdf" for i in range(3)]
    for path in paths:
        path.write_text("hello")
    return paths


def test_the_first_documents_all_failing_alike_stop_the_run_keeping_finished_inputs(tmp_path, embedded_model, not_pdfs):
    with FakeEndpoint() as endpoint:
        cfg = config(tmp_path, Path(embedded_model).parent, endpoint.url, not_pdfs, stop_after_failed_documents=3)
        with pytest.raises(SystemicFault) as raised:
            run_pipeline(cfg)
    assert str(raised.value).startswith(
        f"the first 3 documents all failed to load with not_a_pdf (e.g. {not_pdfs[2]}: not a PDF (no %PDF header)); "
    )
    assert not (tmp_path / "ds").exists()
    assert len(list(work_root(tmp_path / "ds").glob("*/units/*.json"))) == 2  # committed: a rerun resumes


def test_a_document_that_loads_disarms_the_guard_even_if_a_filter_rejects_it(tmp_path, embedded_model, not_pdfs, sample_corpus):
    good = tmp_path / "z-good.pdf"  # sorted last: three load failures come first
    good.write_bytes(sample_corpus[0].read_bytes())
    with FakeEndpoint() as endpoint:  # it answers no pairs, so the good document ends as a filter reject
        cfg = config(tmp_path, Path(embedded_model).parent, endpoint.url, not_pdfs + [good], stop_after_failed_documents=4)
        # Pairs from the LLM only: the article's table would give pairs of its own.
        stats = run_pipeline(cfg.model_copy(update={"qa": QAConfig(generators=["llm"])}))
    assert stats["rejects_by_kind"] == {"not_a_pdf": 3, "no_pair_kept": 1}
    assert stats["rejects_by_stage"] == {"load": 3, "filter": 1}


def test_an_output_that_cannot_be_written_stops_the_run(tmp_path, not_pdfs):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cfg = load_config(ROOT / "configs" / "default.yaml",
                      [f"input.paths={json.dumps([str(not_pdfs[0])])}", f"output.dir={blocker / 'ds'}"])
    with pytest.raises(SystemicFault, match=r"cannot write beside the output .*; choose a writable output folder"):
        run_pipeline(cfg)



def test_a_systemic_fault_in_a_ray_actor_reaches_the_driver_as_itself(sample_corpus):
    """Before, Ray Data replaced it with a UserCodeException and the run ended in a traceback."""
    import ray

    from docqa.runtime.ray_dag import run_ray

    stage = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(ocr_languages=["zz_missing"]), LimitsConfig())
    try:
        with pytest.raises(Exception) as raised:
            list(run_ray(StagePlan([stage]), [InputUnit("unit", [str(sample_corpus[0])])], RunConfig(num_cpus=1)))
    finally:
        ray.shutdown()
    line = str(systemic_fault_in(raised.value)).splitlines()[0]
    assert line.startswith("Tesseract language data ['zz_missing'] not in ") and line.endswith("text.ocr=false to use text layers only")
