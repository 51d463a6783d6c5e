import pytest

from pipeline.discover import NoInputError, discover_pdfs


def test_folders_are_searched_recursively_and_case_insensitively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ["one.pdf", "a/two.PDF", "a/b/three.pdf", "a/notes.txt"]:
        (tmp_path / name).write_bytes(b"%PDF-1.4")
    found = discover_pdfs([str(tmp_path)])
    assert [p.rsplit("/", 1)[-1] for p in found] == ["three.pdf", "two.PDF", "one.pdf"]  # sorted by full path


def test_globs_files_and_repeats(tmp_path):
    for name in ["x1.pdf", "x2.pdf", "y.pdf"]:
        (tmp_path / name).write_bytes(b"%PDF-1.4")
    found = discover_pdfs([str(tmp_path / "x*.pdf"), str(tmp_path / "x1.pdf")])
    assert [p.rsplit("/", 1)[-1] for p in found] == ["x1.pdf", "x2.pdf"]


def test_missing_or_empty_inputs_stop_the_run_with_a_reason(tmp_path):
    with pytest.raises(NoInputError, match="neither a file"):
        discover_pdfs([str(tmp_path / "missing")])
    with pytest.raises(NoInputError, match="matches no file"):
        discover_pdfs([str(tmp_path / "*.pdf")])
    with pytest.raises(NoInputError, match="no PDF found"):
        discover_pdfs([str(tmp_path)])
