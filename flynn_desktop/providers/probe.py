"""Which configured models are reachable now: for `flynn models list` and the settings page."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flynn_desktop.config import Config
from flynn_desktop.config.schema import ProvidersConfig
from flynn_desktop.errors import FlynnError
from flynn_desktop.providers.factory import build_provider

PROBE_TIMEOUT_S = 5.0


def configured_models(config: Config) -> list[str]:
    """Every model the config names: tiers, fallbacks, the chain, and OpenAI-compatible model lists."""
    r = config.models.router
    names = [*r.tiers.values(), *(m for ms in r.tier_fallbacks.values() for m in ms), *r.fallback_chain]
    for kind, c in config.models.providers.compatible().items():
        names += [f"{kind}:{m}" for m in c.models]
    return list(dict.fromkeys(names))


async def probe(
    name: str, providers: ProvidersConfig, cache_dir: Path, models_dir: Path | None = None
) -> tuple[bool, bool, str]:
    """(reachable, stays on this computer, detail)."""
    try:
        provider = build_provider(name, providers, cache_dir, models_dir)
    except FlynnError as e:
        return False, False, e.message
    from flynn_desktop.providers.remote import RemoteProvider  # httpx: only when a probe runs

    try:
        if not isinstance(provider, RemoteProvider):  # the local model: resolving it checks the file
            from flynn_desktop.providers.llama_cpp import LlamaCppProvider

            assert isinstance(provider, LlamaCppProvider)
            resolved = provider._files.resolve(provider.model, provider._gguf_path)
            return True, True, str(resolved.path)
        models = await asyncio.wait_for(provider.list_models(), PROBE_TIMEOUT_S)
        model = name.partition(":")[2]
        known = any(m == model or m.split(":")[0] == model for m in models)
        return True, provider.local, "" if known else f"(the server does not list '{model}')"
    except FlynnError as e:
        return False, provider.local, f"{e.message} {e.hint or ''}".strip()
    except TimeoutError:
        return False, provider.local, f"no answer within {PROBE_TIMEOUT_S:.0f} s"
    finally:
        await provider.close()


async def probe_all(
    names: list[str], providers: ProvidersConfig, cache_dir: Path, models_dir: Path | None = None
) -> dict[str, tuple[bool, bool, str]]:
    results = await asyncio.gather(*(probe(n, providers, cache_dir, models_dir) for n in names))
    return dict(zip(names, results, strict=True))
