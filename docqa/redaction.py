"""What a written config may show: fields that can hold a secret declare it, and `redact` applies the
declarations in one place (config.yaml, and which overrides a Ray job gets apart from its command line).

A field declares one of these kinds with `json_schema_extra`: `SECRET_VALUE`, the whole value is withheld
(passwords); `SECRET_ENTRIES`, only the entries whose names say token, key, secret, password, credential or
auth are (`model.env`); `SECRET_LOCATIONS`, the URLs in it lose credentials, query and fragment; and
`SECRET_SOURCES`, input entries, recorded as `output.source_paths` says (`docqa.output.provenance`).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from docqa.output.provenance import SourcePathMode, recorded_entry

SECRET_VALUE = {"secret": "value"}
SECRET_ENTRIES = {"secret": "entries"}
SECRET_LOCATIONS = {"secret": "locations"}
SECRET_SOURCES = {"secret": "sources"}
REDACTED = "<redacted"
_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSW|CREDENTIAL|AUTH", re.IGNORECASE)


def redact(data: dict[str, Any], model: type[BaseModel], source_paths: SourcePathMode = "full") -> dict[str, Any]:
    """`data`, a config of type `model` or any part of one as plain values (`a: {b: c}`), with secrets
    redacted as its fields declare: passwords become `<redacted: N>`, secret-named entries `<redacted>`,
    and locations lose URL credentials and query strings."""
    redacted = copy.deepcopy(data)
    for name, kind, value in secret_fields(data, model):
        *sections, leaf = name.split(".")
        node = redacted
        for section in sections:
            node = node[section]
        if kind == "value":
            node[leaf] = f"{REDACTED}: {len(value) if isinstance(value, list) else 1}>" if value else value
        elif kind == "entries" and isinstance(value, dict):
            node[leaf] = {k: f"{REDACTED}>" if _SECRET_NAME.search(k) else v for k, v in value.items()}
        elif kind in ("locations", "sources"):
            mode = source_paths if kind == "sources" else "full"
            if isinstance(value, str):
                node[leaf] = recorded_entry(value, mode)
            elif isinstance(value, list):
                node[leaf] = [recorded_entry(p, mode) if isinstance(p, str) else p for p in value]
    return redacted


def redacted_fields(data: dict[str, Any], model: type[BaseModel]) -> list[str]:
    """The secret fields in `data` that hold a value `redact` wrote in place of a secret: a config.yaml
    reused as it was written."""
    return [name for name, _, value in secret_fields(data, model) if REDACTED in json.dumps(value)]


def secret_fields(data: dict[str, Any], model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(dotted name, kind, value) of every field in `data` that declares it may hold a secret."""
    for name, value in data.items():
        field = model.model_fields.get(name)
        if field is None:
            continue
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            if isinstance(value, dict):
                yield from secret_fields(value, field.annotation, f"{prefix}{name}.")
        elif kind := (field.json_schema_extra or {}).get("secret"):
            yield f"{prefix}{name}", kind, value
