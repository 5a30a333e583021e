"""What a config holds that validates key by key but can't work as a whole: models no provider serves,
delegation to tiers that don't exist, embeddings from a provider that isn't there. The loader reports
the first with its file and line."""

from __future__ import annotations

from flynn_desktop.addresses import is_loopback_host
from flynn_desktop.config.schema import Config, ProvidersConfig, gguf_path_of

DELEGATION_TASKS = (
    "compaction",
    "memoryExtraction",
    "classification",
    "toolSummarization",
    "complexReasoning",
)
Problem = tuple[tuple[str | int, ...], str]  # (where, in the file's keys; what is wrong)


def model_problem(name: str, providers: ProvidersConfig) -> str | None:
    """Why `name` (provider:model) can't answer with this config, or None when it can."""
    from flynn_desktop.paths import Paths, bundled_model_names

    kind, _, model = name.partition(":")
    if kind == "local":
        if gguf_path_of(model) is not None:
            return None  # a file: checked when it loads, with what to do if it is missing
        bundled = sorted(bundled_model_names())
        if model in bundled or (Paths.from_env().models_dir / f"{model}.gguf").exists():
            return None  # bundled, or in the model library (pulled or imported)
        return (
            f"'{model}' is not a bundled model ({', '.join(bundled)}), a model in Flynn's library "
            f"(`flynn models ls`; `flynn models pull {model}` downloads a catalog model), "
            "nor a path to a .gguf file"
        )
    if kind == "ollama":
        return None  # Ollama's own address defaults to this computer
    if kind == "anthropic":
        return None if providers.anthropic else f"'{name}' needs a models.providers.anthropic section"
    if kind in providers.compatible():
        return None
    known = ["local", "ollama", "anthropic", *providers.compatible()]
    return f"no provider '{kind}' is configured (known: {', '.join(known)}); add it under models.providers"


def config_problems(config: Config) -> list[Problem]:
    """What a config holds that validates field by field but can't work as a whole: models no provider
    serves, delegation to tiers that don't exist, embeddings from a provider that isn't there."""
    out: list[Problem] = []
    m = config.models
    names: list[tuple[tuple[str | int, ...], str]] = [
        (("models", "router", "tiers", t), n) for t, n in m.router.tiers.items()
    ]
    if "tiers" not in m.router.model_fields_set:  # every tier is the local model the file names
        names = [(("models", "providers", "local", "model"), f"local:{m.providers.local.model}")]
    names += [
        (("models", "router", "tierFallbacks", t, i), n)
        for t, ns in m.router.tier_fallbacks.items()
        for i, n in enumerate(ns)
    ]
    names += [(("models", "router", "fallbackChain", i), n) for i, n in enumerate(m.router.fallback_chain)]
    for where, name in names:
        why = model_problem(name, m.providers)
        if why:
            out.append((where, why))
    for tier in m.router.tier_fallbacks:
        if tier not in m.router.tiers:
            out.append((("models", "router", "tierFallbacks", tier), f"there is no tier '{tier}' in tiers"))
    delegation = config.agent.delegation
    # the defaults name fast and complex; a config without those tiers delegates to default instead
    chosen = delegation.tiers if "tiers" in delegation.model_fields_set else {}
    for task, tier in chosen.items():
        where = ("agents", "default", "delegation", "tiers", task)
        if task not in DELEGATION_TASKS:
            out.append((where, f"unknown task '{task}' (known: {', '.join(DELEGATION_TASKS)})"))
        elif tier not in m.router.tiers:
            out.append((where, f"there is no tier '{tier}' (tiers: {', '.join(m.router.tiers)})"))
    gw = config.gateway
    if not gw.allow_remote and not is_loopback_host(gw.host):
        out.append(
            (
                ("gateway", "host"),
                f"{gw.host} can be reached from other computers; set gateway.allowRemote: true to allow "
                "that (the token is still required), or bind 127.0.0.1",
            )
        )
    emb = config.memory.embeddings
    where = ("memory", "embeddings", "provider")
    if emb.provider != "local":
        if emb.provider not in ("ollama", *m.providers.compatible()):
            out.append(
                (
                    where,
                    f"'{emb.provider}' can't make embeddings here: use local, ollama, or an "
                    "OpenAI-compatible provider configured under models.providers",
                )
            )
        elif not emb.model:
            out.append((("memory", "embeddings"), f"provider {emb.provider} needs memory.embeddings.model"))
    return out
