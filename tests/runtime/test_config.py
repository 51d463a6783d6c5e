
import pytest
from pydantic import BaseModel

from docqa.config import Config, ConfigError, dump_config, load_config
from tests.conftest import ROOT


def _undescribed(model: type[BaseModel], prefix: str = "") -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        if not field.description:
            missing.append(prefix + name)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            missing += _undescribed(field.annotation, f"{prefix}{name}.")
    return missing


def test_every_config_field_has_a_description():
    assert _undescribed(Config) == []


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    load_config(path)


def test_overrides_are_parsed_as_yaml_and_validated():
    config = load_config(None, ["render.dpi=100", "input.paths=[a.pdf, b]", "render.long_documents=skip"])
    assert config.render.dpi == 100
    assert config.input.paths == ["a.pdf", "b"]
    with pytest.raises(ConfigError, match="render.long_documents: Input should be 'split' or 'skip'"):
        load_config(None, ["render.long_documents=sometimes"])


def test_unknown_fields_are_rejected_not_ignored():
    with pytest.raises(ConfigError, match=r"render.dpii: unknown field"):
        load_config(None, ["render.dpii=100"])
    with pytest.raises(ConfigError, match="not of the form"):
        load_config(None, ["render.dpi"])


def test_resolved_config_round_trips(tmp_path):
    config = load_config(ROOT / "configs" / "default.yaml", ["sampling.seed=7"])
    (tmp_path / "c.yaml").write_text(dump_config(config))
    assert load_config(tmp_path / "c.yaml") == config
