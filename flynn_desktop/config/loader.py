"""Read config.yaml: ${VAR} interpolation, validation, and errors that name file, line and key."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from flynn_desktop.config.schema import Config
from flynn_desktop.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEYS = re.compile(r"(api_?key|secret|password|token)$", re.IGNORECASE)


def default_config_text() -> str:
    """The commented default file that `flynn config init` writes."""
    return resources.files("flynn_desktop.resources").joinpath("default_config.yaml").read_text("utf-8")


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate a config file. A missing file gives the defaults."""
    env = os.environ if environ is None else environ
    if path is None or not path.exists():
        return Config()
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"{path}: can't read the config file: {e}", "Check its permissions and encoding."
        ) from e
    return parse_config(text, str(path), env)


def parse_config(text: str, filename: str, environ: Mapping[str, str]) -> Config:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{filename}{line}: this is not valid YAML: {e.problem or e}",
            "Fix the line shown, or move the file away to start from the defaults.",
        ) from e
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}:1: the config file must be a mapping of keys (e.g. 'models:')")
    data = _interpolate(data, (), root, filename, environ)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        line_no = _line_of(root, loc)
        where = f"{filename}:{line_no}" if line_no else filename
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling against `flynn config init`)"
        more = f" (and {len(e.errors()) - 1} more problem(s))" if len(e.errors()) > 1 else ""
        raise ConfigError(
            f"{where}: {key}: {msg}{more}", "Fix the value, or run `flynn config show`."
        ) from None


def _interpolate(
    value: Any, loc: tuple[Any, ...], root: yaml.Node | None, filename: str, env: Mapping[str, str]
) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*loc, k), root, filename, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*loc, i), root, filename, env) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            line = _line_of(root, loc)
            raise ConfigError(
                f"{filename}:{line}: {'.'.join(map(str, loc))}: the environment variable {name} is not set",
                f"Set {name}, or write ${{{name}:-default}} to give a default.",
            )

        return _VAR.sub(sub, value)
    return value


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node along `loc` that exists in the YAML tree."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = None
            for k, v in node.value:
                if str(k.value) == str(part) or _camel_eq(str(k.value), str(part)):
                    found = (k, v)
                    break
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    if line is None and node is not None and loc == ():
        line = node.start_mark.line + 1
    return line


def _camel_eq(a: str, b: str) -> bool:
    return a.replace("_", "").lower() == b.replace("_", "").lower()


def redacted(config: Config) -> dict[str, Any]:
    """The config as plain data, with keys and tokens hidden, for `flynn config show` and logs."""

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ("***" if _SECRET_KEYS.search(str(k)) and x else walk(x)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return dict(walk(config.model_dump(by_alias=True, mode="json")))


def dump_yaml(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
