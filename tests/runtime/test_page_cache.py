"""The page cache's settings key: derived from the load stage's config, the libraries and the OCR data.

Real config objects, real language data (copied, so that its bytes can be changed), the installed PyMuPDF
(its version string is replaced, as an upgrade would change it)."""

import shutil

import pymupdf
import pytest

from docqa.config import Config
from docqa.ingest.text import tessdata_folder
from docqa.runtime.page_cache import LOAD_SECTIONS, NOT_SHAPING, settings_key


def changed(value):
    """Another value of the same kind; settings_key only dumps values, so it need not be a valid one."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, list):
        return value + value if value else ["x"]  # repeating keeps OCR languages installed
    return f"{value}-changed"


def with_field(config: Config, section: str, field: str, value) -> Config:
    return config.model_copy(update={section: getattr(config, section).model_copy(update={field: value})})


SHAPING_FIELDS = [
    (section, field)
    for section in LOAD_SECTIONS
    for field in type(getattr(Config(), section)).model_fields
    if field not in NOT_SHAPING.get(section, set())
]


@pytest.mark.parametrize(("section", "field"), SHAPING_FIELDS)
def test_every_field_of_the_load_sections_is_in_the_key_unless_declared_not_shaping(section, field):
    config = Config()
    value = changed(getattr(getattr(config, section), field))
    assert settings_key(with_field(config, section, field, value)) != settings_key(config)


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("output", "dir", "elsewhere"),
        ("input", "paths", ["/data/pdfs"]),
        ("input", "max_file_mb", 1),
        ("limits", "document_memory_gb", 64),
        ("limits", "document_timeout_s", 3600),
        ("model", "name", "another-model"),
    ],
)
def test_where_things_are_and_how_long_they_may_take_do_not_change_the_key(section, field, value):
    assert settings_key(with_field(Config(), section, field, value)) == settings_key(Config())


def test_a_pymupdf_upgrade_changes_the_key(monkeypatch):
    before = settings_key(Config())
    monkeypatch.setattr(pymupdf, "VersionBind", "2.0.1")
    assert settings_key(Config()) != before


@pytest.fixture
def tessdata_copies(tmp_path, monkeypatch):
    """Three copies of the installed English data, the last upgraded (a byte changed); `use` points
    TESSDATA_PREFIX at one, as a user would."""
    copies = []
    for name in ("a", "b", "upgraded"):
        copy = tmp_path / name
        copy.mkdir()
        shutil.copy(tessdata_folder() / "eng.traineddata", copy)
        copies.append(copy)
    data = bytearray((copies[-1] / "eng.traineddata").read_bytes())
    data[-1] ^= 1
    (copies[-1] / "eng.traineddata").write_bytes(data)

    def use(copy):
        monkeypatch.setenv("TESSDATA_PREFIX", str(copy))
        tessdata_folder.cache_clear()  # the folder is looked up once per process

    yield copies, use
    tessdata_folder.cache_clear()


def test_the_key_follows_the_ocr_language_data_by_content_not_by_folder(tessdata_copies):
    (a, b, upgraded), use = tessdata_copies
    no_ocr = with_field(Config(), "text", "ocr", False)
    keys = {}
    for copy in (a, b, upgraded):
        use(copy)
        keys[copy.name] = settings_key(Config()), settings_key(no_ocr)
    assert keys["a"] == keys["b"]
    assert keys["upgraded"][0] != keys["a"][0]
    assert keys["upgraded"][1] == keys["a"][1]  # without OCR the language data shapes nothing
