"""The configuration reference as Markdown, generated from the settings models' own field docs."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bridge.config.settings import BridgeSettings


def _default(info: FieldInfo) -> str:
    value: Any = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return "(see below)"
    if info.is_required():
        return "required"
    return f"`{json.dumps(value.value if isinstance(value, Enum) else value, default=list)}`"


def _models_in(annotation: Any, key: str) -> list[tuple[str, type[BaseModel]]]:
    """Models reachable from a field type: itself, tuple items (``key[]``), union members by kind."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(key, annotation)]
    args = [a for a in get_args(annotation) if a is not Ellipsis]
    if get_origin(annotation) is tuple:
        return [m for a in args for m in _models_in(a, key + "[]")]
    members = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
    if len(members) > 1:
        return [(f"{key}(kind={m.model_fields['kind'].default})", m) for m in members]
    return [m for a in args for m in _models_in(a, key)]


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows: list[str] = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        if name == "kind":  # already part of the key: volume(kind=csi)
            continue
        key = f"{prefix}{name}"
        nested += _models_in(info.annotation, key)
        doc = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{key}` | {_default(info)} | {doc} |")
    for key, sub in nested:
        rows += _rows(sub, key + ".")
    return rows


def markdown() -> str:
    head = [
        "| key | default | meaning |",
        "| --- | --- | --- |",
    ]
    return "\n".join(head + _rows(BridgeSettings, "")) + "\n"


def write_into(path: str) -> None:
    """Replace the reference between the README's markers."""
    start, end = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"
    with open(path) as f:
        text = f.read()
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    with open(path, "w") as f:
        f.write(head + start + markdown() + end + tail)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        write_into(sys.argv[2])
    else:
        sys.stdout.write(markdown())
