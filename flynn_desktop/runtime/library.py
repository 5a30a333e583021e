"""The model library room: the catalog with each model's fit for this computer, downloads (one at a
time by default, with progress events, paused and resumed, cancelled), the installed models with the
tiers that use them, removing and importing, and choosing one as the default or a tier's model."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flynn_desktop.config import Config
from flynn_desktop.config.editing import save_settings
from flynn_desktop.core.events import Event, LibraryChanged, ModelState, Progress
from flynn_desktop.errors import FlynnError, InvalidParamsError, ModelError, NotFoundError
from flynn_desktop.paths import Paths, bundled_model_names
from flynn_desktop.providers.catalog import CatalogModel, Fit, fit, load_catalog, this_machine
from flynn_desktop.providers.download import DownloadCancelled, discard, fetch_text, resolve
from flynn_desktop.providers.installed import Installed, ModelLibrary, model_name
from flynn_desktop.runtime.models import Models

Emit = Callable[[Event], None]
LoopOf = Callable[[], asyncio.AbstractEventLoop]


class Library:
    def __init__(
        self, config: Config, paths: Paths, emit: Emit, loop: LoopOf, models: Models, config_path: Path
    ) -> None:
        self.config = config
        self.paths = paths
        self.emit = emit
        self._loop = loop
        self.models = models
        self.config_path = config_path
        self.files = ModelLibrary(paths.models_dir)
        self._stops: dict[str, threading.Event] = {}  # downloads under way (or waiting), by name
        self._turns = asyncio.Semaphore(config.models.downloads.parallel)

    # what there is -----------------------------------------------------------------------------------
    @property
    def _fetched_catalog(self) -> Path:
        return self.paths.cache_dir / "catalog.yaml"

    def catalog(self) -> dict[str, CatalogModel]:
        """The shipped catalog, or the one fetched from models.catalog.url when there is one."""
        if self._fetched_catalog.exists():
            try:
                return load_catalog(self._fetched_catalog)
            except FlynnError:
                pass  # damaged: the shipped one
        return load_catalog()

    async def update_catalog(self) -> int:
        """Fetch models.catalog.url's catalog (checked before it replaces the last one); its size."""
        url = self.config.models.catalog.url
        if not url:
            raise InvalidParamsError(
                "No catalog URL is set.", "Set models.catalog.url in config.yaml to a catalog.yaml's URL."
            )
        text = await asyncio.to_thread(fetch_text, url)
        tmp = self._fetched_catalog.with_suffix(".new")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, "utf-8")
        try:
            n = len(load_catalog(tmp))
        except FlynnError:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(self._fetched_catalog)
        self.emit(LibraryChanged())
        return n

    def fit_of(self, m: CatalogModel) -> Fit:
        return fit(m.size, m.memory, this_machine(self.paths.models_dir), self.files.get(m.name) is not None)

    def catalog_listing(self) -> list[dict[str, Any]]:
        """The catalog, each model with its fit here and whether it is installed or paused."""
        machine = this_machine(self.paths.models_dir)
        paused = {p.name: p for p in self.files.paused()}
        out = []
        for m in self.catalog().values():
            installed = self.files.get(m.name) is not None
            f = fit(m.size, m.memory, machine, installed)
            out.append(
                {
                    "name": m.name,
                    "title": m.title,
                    "description": m.description,
                    "url": m.url,
                    "size": m.size,
                    "params": m.params,
                    "quant": m.quant,
                    "contextLength": m.context_length,
                    "memory": m.memory,
                    "licence": m.licence,
                    "tools": m.tools,
                    "fim": m.fim,
                    "fit": f.verdict,
                    "why": list(f.reasons),
                    "installed": installed,
                    "downloading": m.name in self._stops,
                    "paused": paused[m.name].done if m.name in paused else None,
                }
            )
        return out

    def tiers_using(self, name: str) -> list[str]:
        model = f"local:{name}"
        return [t for t, n in self.config.models.router.tiers.items() if n == model]

    def installed(self) -> list[dict[str, Any]]:
        """The library's models: size, where from, loaded now, the tiers that use it; then the bundled
        ones; then paused downloads."""
        loaded = {n for n, p in self.models.loaded().items() if p.loaded}
        out = []
        for m in self.files.installed():
            out.append(
                m.to_dict() | {"loaded": f"local:{m.name}" in loaded, "tiers": self.tiers_using(m.name)}
            )
        for name in sorted(bundled_model_names()):
            out.append(
                {
                    "name": name,
                    "model": f"local:{name}",
                    "bundled": True,
                    "loaded": f"local:{name}" in loaded,
                    "tiers": self.tiers_using(name),
                }
            )
        for p in self.files.paused():
            out.append({"name": p.name, "paused": True, "size": p.done, "source": p.source})
        return out

    async def ollama_models(self) -> list[str]:
        """The models of an Ollama running on this computer (or at models.providers.ollama.host);
        none when it does not answer within a second."""
        from flynn_desktop.providers.factory import build_provider
        from flynn_desktop.providers.ollama import OllamaProvider

        provider = build_provider("ollama:list", self.config.models.providers, self.paths.cache_dir)
        assert isinstance(provider, OllamaProvider)
        try:
            return await asyncio.wait_for(provider.list_models(), 1.0)
        except (FlynnError, TimeoutError, OSError):
            return []
        finally:
            await provider.close()

    # downloads ---------------------------------------------------------------------------------------
    def source_of(self, ref: str, sha256: str | None) -> tuple[str, CatalogModel | None]:
        """(what to fetch, the catalog model) for a catalog name (also as local:NAME) or a URL."""
        entry = self.catalog().get(ref.removeprefix("local:"))
        return (entry.url, entry) if entry else (ref, None)

    async def pull(
        self,
        ref: str,
        name: str | None = None,
        sha256: str | None = None,
        force: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Installed:
        """Download a catalog model, a URL or an hf:// file into the library, with progress events
        ("model.download"); the same pull resumes a paused one. Refused up front when the model is too
        big for this computer (unless `force`) or the disk lacks the room. `on_progress(done, total)`
        is called on the loop too (the gateway's /api/pull streams it)."""
        url, entry = self.source_of(ref, sha256)
        name = model_name(name or (entry.name if entry else ref.rpartition("/")[2]))
        if entry is not None and not force:
            f = self.fit_of(entry)
            if not f.ok:
                raise ModelError(
                    f"{entry.title} is too big for this computer: {'; '.join(f.reasons)}.",
                    "Pick a smaller model from `flynn models catalog` (or pull with --force).",
                )
        if name in self._stops:
            raise InvalidParamsError(f"'{name}' is already downloading.")
        if bundled_model_names() & {name} or self.files.get(name) is not None:
            raise ModelError(
                f"A model named '{name}' is already installed.",
                f"Use it as local:{name}, or remove it first (`flynn models rm {name}`).",
            )
        stop = self._stops[name] = threading.Event()
        self.emit(LibraryChanged(name))
        try:
            async with self._turns:  # one download at a time (models.downloads.parallel)
                if stop.is_set():
                    raise DownloadCancelled(f"The download of {name} was cancelled before it started.")
                src = await asyncio.to_thread(resolve, url, sha256 or (entry.sha256 if entry else None))
                m = await asyncio.to_thread(
                    self.files.pull, src, name, entry, self._reporter(name, on_progress), stop
                )
        except asyncio.CancelledError:  # the caller went away, or Flynn quits: the thread stops too
            stop.set()
            raise
        except DownloadCancelled:
            self.emit(LibraryChanged(name))
            raise
        finally:
            self._stops.pop(name, None)
        self.emit(
            Progress("model.download", 1.0, f"{name}: checked (sha256 {m.sha256 or '?'})", m.size, m.size)
        )
        self.emit(LibraryChanged(name))
        return m

    def _reporter(self, name: str, also: Callable[[int, int], None] | None) -> Callable[[int, int], None]:
        loop = self._loop()

        def report(done: int, total: int) -> None:
            if also is not None:
                loop.call_soon_threadsafe(also, done, total)
            fraction = done / total if total else 0.0
            detail = (
                f"{name}: {done / 1e6:.0f} of {total / 1e6:.0f} MB"
                if total
                else f"{name}: {done / 1e6:.0f} MB"
            )
            loop.call_soon_threadsafe(self.emit, Progress("model.download", fraction, detail, done, total))

        return report

    def cancel(self, name: str, keep: bool = True) -> bool:
        """Stop `name`'s download: kept to resume later (a pause), or with what arrived deleted. True
        when one was running or paused."""
        stop = self._stops.get(name)
        if stop is not None:
            stop.set()
        if not keep:
            discard(self.files.path_of(name))
            self.emit(LibraryChanged(name))
        return stop is not None or not keep

    # managing ----------------------------------------------------------------------------------------
    async def remove(self, name: str, force: bool = False) -> Installed:
        """Delete a model from the library (unloaded first). A model a tier uses is kept unless `force`."""
        name = name.removeprefix("local:")
        if name in bundled_model_names():
            raise InvalidParamsError(f"{name} is bundled with Flynn; it can't be removed.")
        tiers = self.tiers_using(name)
        if tiers and not force:
            raise InvalidParamsError(
                f"local:{name} is the model of the tier{'s' if len(tiers) > 1 else ''} {', '.join(tiers)}.",
            )
        self.cancel(name)
        provider = self.models.loaded().get(f"local:{name}")
        if provider is not None:
            await self.models.forget(f"local:{name}")
            self.emit(ModelState(f"local:{name}", "unloaded", "removed from the library"))
        m = await asyncio.to_thread(self.files.remove, name)
        self.emit(LibraryChanged(name))
        return m

    async def import_file(self, path: Path, name: str | None = None, link: bool = False) -> Installed:
        """Add a GGUF file the user has (copied, with progress; or linked)."""
        label = name or path.name

        def report(done: int, total: int) -> None:
            self._loop().call_soon_threadsafe(
                self.emit, Progress("model.import", done / total if total else 1.0, label, done, total)
            )

        m = await asyncio.to_thread(self.files.import_file, path, name, link, report)
        self.emit(LibraryChanged(m.name))
        return m

    def use(self, name: str, tier: str = "default") -> dict[str, Any]:
        """Make a model the default (or `tier`'s) model: written to config.yaml and applied now."""
        name = name.removeprefix("local:")
        if name not in bundled_model_names() and self.files.get(name) is None:
            raise NotFoundError(f"There is no model named '{name}' in Flynn's library.")
        tiers = self.config.models.router.tiers
        if tier not in tiers:
            raise InvalidParamsError(f"There is no tier '{tier}' (tiers: {', '.join(tiers)}).")
        model = f"local:{name}"
        try:  # every tier written: a file without tiers followed local.model, and keeps doing so
            save_settings(self.config_path, {"models.router.tiers": {**tiers, tier: model}})
        except (FlynnError, OSError) as e:
            raise ModelError(
                f"config.yaml can't be written: {e}", "Check the config file's permissions."
            ) from e
        tiers[tier] = model
        self.config.models.router.model_fields_set.add("tiers")
        self.emit(LibraryChanged(name))
        return {"tier": tier, "model": model, "config": str(self.config_path)}
