"""The models room: which provider answers a name, the router over them, loading and unloading, the
local embedder, API keys and connection probes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

from flynn_desktop.config import Config
from flynn_desktop.core.events import Event, ModelState
from flynn_desktop.core.interfaces import CancelToken, Provider
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Role
from flynn_desktop.errors import FlynnError
from flynn_desktop.memory.embedder import Embeddings, LocalEmbedder
from flynn_desktop.paths import Paths
from flynn_desktop.providers.factory import build_provider
from flynn_desktop.providers.installed import ModelLibrary
from flynn_desktop.providers.probe import configured_models, probe
from flynn_desktop.providers.router import ModelRouter, RoutedProvider
from flynn_desktop.secrets import set_key

Emit = Callable[[Event], None]
LoopOf = Callable[[], asyncio.AbstractEventLoop]


class Models:
    def __init__(
        self,
        config: Config,
        paths: Paths,
        emit: Emit,
        loop: LoopOf,
        providers: dict[str, Provider] | None = None,
    ) -> None:
        self.config = config
        self.paths = paths
        self.emit = emit
        self._loop = loop
        self._providers: dict[str, Provider] = dict(providers or {})
        self._unload_timers: dict[str, asyncio.TimerHandle] = {}
        self._embedder: LocalEmbedder | None = None
        self._embedder_lock = threading.Lock()
        self.router = ModelRouter(config.models.router, self.provider_for)

    # names -------------------------------------------------------------------------------------------
    @property
    def default_model(self) -> str:
        return self.config.models.router.tiers["default"]

    def model_name(self, model: str | None = None) -> str:
        """The provider:model a request's `model` names: flynn (or none) is the default tier; a tier
        gives its model."""
        name = self.default_model if model in (None, "", "flynn") else model
        return self.config.models.router.tiers.get(name, name)

    def choices(self) -> list[str]:
        """What the model picker offers: the tiers, every model the config names, then the library's."""
        library = [f"local:{m.name}" for m in ModelLibrary(self.paths.models_dir).installed()]
        return list(
            dict.fromkeys([*self.config.models.router.tiers, *configured_models(self.config), *library])
        )

    # providers ---------------------------------------------------------------------------------------
    def provider_for(self, model: str | None = None) -> Provider:
        """The provider for one model (see model_name), built once and kept."""
        name = self.model_name(model)
        if name not in self._providers:
            provider = build_provider(
                name, self.config.models.providers, self.paths.cache_dir, self.paths.models_dir
            )
            if hasattr(provider, "before_load"):  # a local model: at most maxLoaded in memory
                provider.before_load = self._make_room
            self._providers[name] = provider
        return self._providers[name]

    def local_slots(self) -> dict[str, dict[str, Any]]:
        """The loaded local models' slots (llama_cpp.LlamaCppProvider.slots), by provider:model."""
        return {
            name: p.slots()
            for name, p in list(self._providers.items())
            if p.local and p.loaded and hasattr(p, "slots")
        }

    async def _make_room(self, loading: Provider) -> None:
        """Before a local model loads, unload the other local models beyond
        models.providers.local.maxLoaded - 1 (the longest loaded first); they load again on demand."""
        limit = self.config.models.providers.local.max_loaded
        others = [
            (n, p)
            for n, p in self._providers.items()
            if p is not loading and p.local and p.can_unload and p.loaded
        ]
        for name, p in others[: max(0, len(others) - (limit - 1))]:
            await p.unload()
            self.emit(ModelState(name, "unloaded", f"to make room for {loading.provider}:{loading.model}"))

    def route(self, model: str | None = None) -> RoutedProvider:
        """A request's provider: a tier (or flynn, or none: the default tier) with its fallbacks, or one
        provider:model, strictly."""
        return self.router.route(None if model in (None, "", "flynn") else model)

    def route_task(self, task: str) -> RoutedProvider:
        """The provider for an internal task (compaction, memoryExtraction, ...), by its delegation tier."""
        tier = self.config.agent.delegation.tiers.get(task, "default")
        return self.router.route(tier if tier in self.config.models.router.tiers else "default")

    async def ask_task(
        self, task: str, prompt: str, max_tokens: int, cancel: CancelToken | None = None
    ) -> str:
        """The whole answer of an internal task's delegation tier (compaction, memoryExtraction, ...)
        to one prompt, greedy; what it wrote so far when cancelled."""
        provider = self.route_task(task)
        await provider.load(None)
        out: list[str] = []
        params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
        async for item in provider.stream([ChatMessage(Role.USER, prompt)], params, cancel or CancelToken()):
            if isinstance(item, str):
                out.append(item)
        return "".join(out)

    def loaded(self) -> dict[str, Provider]:
        """The providers built so far, by provider:model."""
        return dict(self._providers)

    async def load(self, model: str | None = None) -> None:
        """Load a model now (with progress events) instead of at the first question."""
        provider = self.provider_for(model)
        label = f"{provider.provider}:{provider.model}"
        self.emit(ModelState(label, "loading"))
        try:
            await provider.load(self.emit)
        except FlynnError as e:
            self.emit(ModelState(label, "failed", str(e)))
            raise
        self.emit(ModelState(label, "ready", f"context {provider.context_length} tokens"))

    def keep_alive(self, model: str | None, seconds: float) -> None:
        """Unload a local model `seconds` after now (0: at once), unless it is used again meanwhile;
        a negative value keeps it loaded. This is Ollama's keep_alive."""
        name = self.model_name(model)
        provider = self._providers.get(name)
        old = self._unload_timers.pop(name, None)
        if old is not None:
            old.cancel()
        if provider is None or not provider.can_unload or seconds < 0:
            return
        unload = provider.unload
        self._unload_timers[name] = self._loop().call_later(seconds, lambda: asyncio.ensure_future(unload()))

    async def forget(self, name: str) -> None:
        """Close and drop one provider (its model's file is going away)."""
        timer = self._unload_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        provider = self._providers.pop(name, None)
        if provider is not None:
            await provider.close()

    async def close(self) -> None:
        for timer in self._unload_timers.values():
            timer.cancel()
        for p in self._providers.values():
            await p.close()

    # embeddings --------------------------------------------------------------------------------------
    def local_embedder(self) -> LocalEmbedder:
        """The bundled embedding model, shared by memory and the gateway's embeddings endpoints."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = LocalEmbedder(
                    self.paths.cache_dir, self.config.models.providers.local.threads
                )
            return self._embedder

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        """Vectors for `texts` from the local embedder (loaded on first use), off the loop thread."""
        return await asyncio.to_thread(self.local_embedder().embed, list(texts))

    # keys and probes ---------------------------------------------------------------------------------
    def key_providers(self) -> list[str]:
        """The configured providers that take an API key."""
        p = self.config.models.providers
        return (["anthropic"] if p.anthropic else []) + list(p.compatible())

    async def save_api_key(self, provider: str, key: str | None) -> None:
        """Keep `provider`'s key in the system keyring, and rebuild its models with it."""
        set_key(provider, key)
        for name in [n for n in self._providers if n.startswith(provider + ":")]:
            await self._providers.pop(name).close()

    async def test_connection(self, model: str) -> tuple[bool, bool, str]:
        """(reachable, stays on this computer, detail) for one provider:model."""
        return await probe(model, self.config.models.providers, self.paths.cache_dir, self.paths.models_dir)
