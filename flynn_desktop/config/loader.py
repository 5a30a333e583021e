"""Read config.yaml: ${VAR} interpolation, validation, and errors that name file, line and key."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from flynn_desktop.config.checks import config_problems
from flynn_desktop.config.schema import Config
from flynn_desktop.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEYS = re.compile(r"(api_?key|secret|password|token)$", re.IGNORECASE)
_CREDENTIALS = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def default_config_text() -> str:
    """The commented default file that `flynn config init` writes."""
    return resources.files("flynn_desktop.resources").joinpath("default_config.yaml").read_text("utf-8")


MAX_CONFIG_BYTES = 1 << 20  # a config file is a page or two; anything this big is a mistake


class _Loader(yaml.SafeLoader):
    """YAML as a config needs it: no aliases (a few nested ones expand to billions of values) and no
    key given twice (the second would silently win)."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                problem="aliases (*name) are not allowed in config.yaml; write the value out",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)  # type: ignore[arg-type]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                raise yaml.MarkedYAMLError(
                    problem="a key must be plain text", problem_mark=key_node.start_mark
                ) from None
            if first is not None:
                raise yaml.MarkedYAMLError(
                    problem=f"the key '{key}' is given twice (first on line {first})",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def load_config(
    path: Path | None, environ: Mapping[str, str] | None = None, required: bool = False
) -> Config:
    """Load and validate a config file. A missing file gives the defaults, unless it was asked for by
    name (`--config`, $FLYNN_CONFIG): then it is an error."""
    env = os.environ if environ is None else environ
    if path is None:
        return Config()
    try:
        st = path.stat()
    except FileNotFoundError:
        if required:
            raise ConfigError(
                f"{path}: no such config file.", "Check the path, or write one with `flynn config init`."
            ) from None
        return Config()
    except OSError as e:
        raise ConfigError(
            f"{path}: can't read the config file: {e.strerror or e}", "Check its permissions."
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(
            f"{path}: this is not a regular file (a folder, a pipe or a device).", "Point to a file."
        )
    if st.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: the config file is {st.st_size // 1024} KB; a config holds at most "
            f"{MAX_CONFIG_BYTES // 1024} KB.",
            "Check that this is the right file.",
        )
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"{path}: can't read the config file: {e}", "Check its permissions and encoding (UTF-8)."
        ) from None
    return parse_config(text, str(path), env)


def parse_config(text: str, filename: str, environ: Mapping[str, str]) -> Config:
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{filename}{line}: this is not valid YAML: {e.problem or e}",
            "Fix the line shown, or move the file away to start from the defaults.",
        ) from None
    except yaml.YAMLError as e:  # e.g. a control character the YAML reader refuses
        line = f":{text.count(chr(10), 0, e.position) + 1}" if isinstance(e, yaml.reader.ReaderError) else ""
        raise ConfigError(
            f"{filename}{line}: this is not valid YAML: {e}", "Fix the line shown (or remove the character)."
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{filename}: the YAML is nested too deeply.", "A config is a few levels deep."
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}:1: the config file must be a mapping of keys (e.g. 'models:')")
    data = _interpolate(data, (), root, filename, environ)
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        line_no = _line_of(root, loc)
        where = f"{filename}:{line_no}" if line_no else filename
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling against `flynn config init`)"
        more = f" (and {len(e.errors()) - 1} more problem(s))" if len(e.errors()) > 1 else ""
        raise ConfigError(
            f"{where}: {key}: {msg}{more}", "Fix the value, or run `flynn config show`."
        ) from None
    problems = config_problems(config)
    if problems:
        loc, msg = problems[0]
        line_no = _line_of(root, loc)
        where = f"{filename}:{line_no}" if line_no else filename
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ConfigError(
            f"{where}: {'.'.join(str(p) for p in loc)}: {msg}{more}",
            "Fix the value, or run `flynn config show`.",
        )
    return config


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

        out = _VAR.sub(sub, value)
        if "${" in _VAR.sub("", value):
            line = _line_of(root, loc)
            raise ConfigError(
                f"{filename}:{line}: {'.'.join(map(str, loc))}: '{value}' has a ${{ that is not closed",
                "Write ${NAME} or ${NAME:-default}.",
            )
        return out
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


def redact(v: Any) -> Any:
    """Plain data (a config's, or a config file's) with keys, tokens and passwords in URLs hidden."""
    if isinstance(v, dict):
        return {k: ("***" if _SECRET_KEYS.search(str(k)) and x else redact(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [redact(x) for x in v]
    if isinstance(v, str):
        return _CREDENTIALS.sub(r"\1***@", v)  # https://user:pass@host -> https://***@host
    return v


def redacted(config: Config) -> dict[str, Any]:
    """The config as plain data, with keys and tokens hidden, for `flynn config show` and logs."""
    return dict(redact(config.model_dump(by_alias=True, mode="json")))


def dump_yaml(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
