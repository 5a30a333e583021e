"""Build a provider from its `provider:model` name and the config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flynn_desktop.config.schema import ProvidersConfig, gguf_path_of
from flynn_desktop.core.interfaces import Provider
from flynn_desktop.errors import UnknownModelError
from flynn_desktop.paths import bundled_model_names
from flynn_desktop.secrets import get_key

if TYPE_CHECKING:
    from flynn_desktop.providers.installed import Installed


def build_provider(
    name: str, providers: ProvidersConfig, cache_dir: Path, models_dir: Path | None = None
) -> Provider:
    """`models_dir`: the model library's folder (data/models), where `local:NAME` finds a pulled or
    imported model."""
    kind, sep, model = name.partition(":")
    if not sep or not model:
        raise UnknownModelError(
            f"'{name}' is not a model name.", "Write it as provider:model, e.g. local:smollm2-135m"
        )
    if kind == "local":
        from flynn_desktop.providers.llama_cpp import LlamaCppProvider
        from flynn_desktop.providers.model_files import ModelFiles

        local = providers.local
        path, context, sampling = gguf_path_of(model), local.context_length, None
        if path is None and model not in bundled_model_names():
            installed = _installed(model, models_dir)
            path, context, sampling = installed.path, context or installed.context_length, installed.sampling
        return LlamaCppProvider(
            model,
            ModelFiles(cache_dir),
            gguf_path=path,
            context_length=context,
            threads=local.threads,
            chat_format=local.chat_format,
            sampling=sampling,
            parallel=local.parallel,
            state_cache_mb=local.state_cache_mb,
        )
    if kind == "anthropic":
        from flynn_desktop.providers.anthropic import AnthropicProvider

        a = providers.anthropic
        if a is None:
            raise UnknownModelError(
                f"'{name}' needs models.providers.anthropic in config.yaml.",
                "Add it with apiKey: ${ANTHROPIC_API_KEY}.",
            )
        return AnthropicProvider(model, a.api_key or get_key("anthropic"), a.base_url, a.timeout_ms / 1000)
    if kind == "ollama":
        from flynn_desktop.providers.ollama import OllamaProvider

        o = providers.ollama
        host = o.host if o else None
        timeout = o.timeout_ms / 1000 if o else 120.0
        return OllamaProvider(model, host, timeout, (o.context_length if o else None) or 8192)
    compatible = providers.compatible()
    if kind in compatible:
        from flynn_desktop.providers.openai_compat import OpenAICompatProvider

        c = compatible[kind]
        key = c.api_key or get_key(kind)
        return OpenAICompatProvider(
            kind, model, c.base_url, key, c.timeout_ms / 1000, c.context_length or 32768
        )
    raise UnknownModelError(
        f"'{name}' names the provider '{kind}', which is not configured.",
        f"Add models.providers.{kind} (baseUrl, apiKey) for an OpenAI-compatible server, "
        "or use local, ollama or anthropic.",
    )


def _installed(model: str, models_dir: Path | None) -> Installed:
    """The library's model named `model`, or an error that says what there is and how to get it."""
    from flynn_desktop.providers.catalog import load_catalog
    from flynn_desktop.providers.installed import ModelLibrary

    library = ModelLibrary(models_dir) if models_dir else None
    found = library.get(model) if library else None
    if found is not None:
        return found
    have = [*sorted(bundled_model_names()), *(m.name for m in library.installed())] if library else []
    hint = (
        f"Download it with `flynn models pull {model}` (or the window's Models page)."
        if model in load_catalog()
        else "Pull a model with `flynn models pull NAME`, import a GGUF with `flynn models import FILE`, "
        "or give the path of a .gguf file."
    )
    raise UnknownModelError(
        f"There is no local model named '{model}' (installed: {', '.join(have) or 'none'}).", hint
    )
