"""The models a user added to Flynn: GGUF files in data/models/, each `NAME.gguf` with a `NAME.json`
beside it (where it came from, its sha256, the catalog's context length and sampling). `local:NAME`
answers with one. Pulled from the catalog, a URL or the Hub; or imported from a file the user has
(copied, or linked to save the disk)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flynn_desktop.config.schema import SamplingConfig
from flynn_desktop.core.messages import Sampling
from flynn_desktop.errors import ModelError, NotFoundError, storage_error
from flynn_desktop.providers.catalog import CatalogModel
from flynn_desktop.providers.download import Report, Source, check_room, discard, download, partial_of

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def model_name(text: str) -> str:
    """A name for local:NAME from a file name or what the user typed: lower case, no .gguf, no spaces."""
    stem = Path(text).name.removesuffix(".gguf").removesuffix(".GGUF").lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", stem).strip("-.")[:64]
    if not NAME.fullmatch(name):
        raise ModelError(
            f"'{text}' can't be a model's name.", "Use letters, digits, '.', '_' and '-', e.g. my-model."
        )
    return name


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


@dataclass(frozen=True)
class Installed:
    name: str
    path: Path
    size: int
    source: str = ""  # the catalog name, URL, hf:// reference or file it came from
    sha256: str | None = None
    catalog: str | None = None  # the catalog model it is
    added: str = ""
    context_length: int | None = None
    sampling: Sampling = field(default_factory=Sampling)
    linked: bool = False  # a link to the user's own file, not a copy

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": f"local:{self.name}",
            "path": str(self.path),
            "size": self.size,
            "source": self.source,
            "sha256": self.sha256,
            "catalog": self.catalog,
            "added": self.added,
            "contextLength": self.context_length,
            "linked": self.linked,
        }


@dataclass(frozen=True)
class Paused:
    name: str
    done: int  # bytes kept from an interrupted download
    source: str


class ModelLibrary:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def path_of(self, name: str) -> Path:
        return self.folder / f"{name}.gguf"

    def get(self, name: str) -> Installed | None:
        path = self.path_of(name)
        if not NAME.fullmatch(name) or not path.exists():
            return None
        info: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):  # a GGUF dropped in the folder by hand: no record
            info = json.loads(path.with_suffix(".json").read_text("utf-8"))
        try:
            size = path.stat().st_size
        except OSError:  # a link whose file is gone
            size = 0
        try:
            sampling = Sampling(**SamplingConfig.model_validate(info.get("sampling") or {}).model_dump())
        except ValueError:
            sampling = Sampling()
        return Installed(
            name=name,
            path=path,
            size=size,
            source=str(info.get("source") or ""),
            sha256=info.get("sha256"),
            catalog=info.get("catalog"),
            added=str(info.get("added") or ""),
            context_length=info.get("contextLength"),
            sampling=sampling,
            linked=path.is_symlink(),
        )

    def installed(self) -> list[Installed]:
        if not self.folder.is_dir():
            return []
        found = (self.get(p.name.removesuffix(".gguf")) for p in sorted(self.folder.glob("*.gguf")))
        return [m for m in found if m is not None]

    def paused(self) -> list[Paused]:
        """Downloads that were interrupted or paused, and how far each got."""
        out = []
        for p in sorted(self.folder.glob("*.gguf.partial")) if self.folder.is_dir() else []:
            try:
                source = json.loads(p.with_name(p.name + ".json").read_text()).get("url", "")
            except (OSError, ValueError):
                source = ""
            out.append(Paused(p.name.removesuffix(".gguf.partial"), p.stat().st_size, source))
        return out

    def remove(self, name: str) -> Installed:
        """Delete a model (a link: only the link), or forget a paused download of that name."""
        m = self.get(name)
        dest = self.path_of(name)
        if m is None and not partial_of(dest).exists():
            known = ", ".join(x.name for x in self.installed()) or "none"
            raise NotFoundError(f"There is no model named '{name}' in Flynn's library (installed: {known}).")
        try:
            dest.unlink(missing_ok=True)
            dest.with_suffix(".json").unlink(missing_ok=True)
            discard(dest)
        except OSError as e:
            raise storage_error("the model library", dest, e) from e
        return m or Installed(name, dest, 0)

    def _record(self, name: str, **info: Any) -> Installed:
        info = {"added": datetime.now(UTC).isoformat(timespec="seconds"), **info}
        path = self.path_of(name).with_suffix(".json")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(info, indent=1), "utf-8")
        os.replace(tmp, path)
        m = self.get(name)
        assert m is not None
        return m

    def pull(
        self,
        src: Source,
        name: str,
        catalog: CatalogModel | None = None,
        report: Report | None = None,
        stop: threading.Event | None = None,
    ) -> Installed:
        """Download `src` as `name` (resuming a paused download of it), checked, then recorded."""
        dest = self.path_of(name)
        if dest.exists():
            raise ModelError(
                f"A model named '{name}' is already in Flynn's library.",
                f"Use it as local:{name}, remove it first (`flynn models rm {name}`), "
                "or pick another --name.",
            )
        sha = download(src, dest, report, stop)
        info: dict[str, Any] = {"source": src.ref, "url": src.url, "sha256": sha}
        if catalog is not None:
            info |= {
                "catalog": catalog.name,
                "contextLength": catalog.context_length,
                "sampling": {k: v for k, v in vars(catalog.sampling).items() if v is not None},
            }
        return self._record(name, **info)

    def import_file(
        self, path: Path, name: str | None = None, link: bool = False, report: Report | None = None
    ) -> Installed:
        """Add a GGUF file the user has: copied into the library, or linked (no second copy)."""
        path = path.expanduser().resolve()
        if not path.is_file():
            raise NotFoundError(f"There is no file {path}.")
        if not is_gguf(path):
            raise ModelError(
                f"{path.name} is not a GGUF model file (it does not start with 'GGUF').",
                "Import a .gguf file: llama.cpp's format (convert other formats with llama.cpp's tools).",
            )
        name = model_name(name or path.name)
        dest = self.path_of(name)
        if dest.exists():
            raise ModelError(
                f"A model named '{name}' is already in Flynn's library.", "Pick another name with --name."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size
        try:
            if link:
                dest.symlink_to(path)
            else:
                check_room(self.folder, size)
                _copy(path, dest, size, report)
        except OSError as e:
            raise storage_error("the model library", dest, e) from e
        return self._record(name, source=str(path))


def _copy(src: Path, dest: Path, size: int, report: Callable[[int, int], None] | None) -> None:
    tmp = partial_of(dest)
    done = 0
    with src.open("rb") as fin, tmp.open("wb") as fout:
        while block := fin.read(1 << 22):
            fout.write(block)
            done += len(block)
            if report:
                report(done, size)
    shutil.copystat(src, tmp)
    os.replace(tmp, dest)
