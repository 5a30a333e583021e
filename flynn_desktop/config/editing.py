"""Writing settings back to config.yaml the way a person would: the user's comments, order, and every
key the change does not touch are kept (ruamel.yaml's round trip). The new text is validated by the
same schema as the file is when Flynn starts, before anything is written; the file is replaced whole
(a crash leaves the old one or the new one, never half)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from flynn_desktop.config.loader import parse_config
from flynn_desktop.config.schema import Config
from flynn_desktop.errors import ConfigError


def _yaml() -> YAML:
    y = YAML()  # round-trip: comments, order, quotes and blank lines are kept
    y.preserve_quotes = True
    y.width = 110
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def apply_changes(text: str, changes: Mapping[str, Any]) -> str:
    """`text` with each `dotted.camelCase.key` set to its value (maps made where missing)."""
    y = _yaml()
    doc = y.load(text) if text.strip() else None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise ConfigError("config.yaml is not a map of settings.", "Fix the file by hand, or move it away.")
    for dotted, value in changes.items():
        node = doc
        *parents, last = dotted.split(".")
        for key in parents:
            child = node.get(key)
            if not isinstance(child, CommentedMap):
                child = CommentedMap()
                node[key] = child
            node = child
        node[last] = value
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def save_settings(path: Path, changes: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """Set `changes` in the config file at `path` (made if missing), keeping everything else. Returns
    the config the new file gives; raises ConfigError (naming the key) and writes nothing when the
    result would not validate."""
    text = path.read_text("utf-8") if path.exists() else ""
    new = apply_changes(text, changes)
    config = parse_config(new, str(path), os.environ if environ is None else environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".saving")
    partial.write_text(new, "utf-8")
    if path.exists():
        os.chmod(partial, path.stat().st_mode & 0o777)
    partial.replace(path)
    return config
