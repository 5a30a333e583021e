"""The router's cost, and how fast it falls back. Side by side, in one run.

    .venv/bin/python benchmarks/router.py [--requests 2000] [--reps 7]

1. Overhead per request: a provider that answers at once (8 tokens), called directly, against the same
   provider through the router (plan, health check, Served marker, pass-through). Target: < 1 ms.
2. Time to first token when the primary tier fails every call (HTTP 500 from an OpenAI-compatible
   server on 127.0.0.1): the router retries it maxAttempts times with backoff, then falls back to an
   Anthropic-compatible server. The bound is the configured backoff plus the fallback's own time to
   first token (measured directly).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flynn_desktop.config import Config  # noqa: E402
from flynn_desktop.core.interfaces import CancelToken, ProgressCallback, Provider  # noqa: E402
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Role, Served, Usage  # noqa: E402
from flynn_desktop.errors import ProviderError  # noqa: E402
from flynn_desktop.providers.factory import build_provider  # noqa: E402
from flynn_desktop.providers.router import ModelRouter  # noqa: E402
from tests.helpers.fake_servers import FakeServer, Fault  # noqa: E402

MSGS = [ChatMessage(Role.USER, "Hi")]
PARAMS = GenerationParams(max_tokens=16)


class Instant:
    provider, model, local, context_length = "bench", "instant", True, 4096

    async def load(self, progress: ProgressCallback | None = None) -> None:
        return None

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> tuple[int, bool]:
        return 1, False

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[str | Usage | Served]:
        for _ in range(8):
            yield "tok "
        yield Usage(1, 8, False)

    async def close(self) -> None:
        return None


async def drain(p: Provider) -> float:
    """Seconds to the first text."""
    t0 = time.perf_counter()
    first = None
    async for item in p.stream(MSGS, PARAMS, CancelToken()):
        if isinstance(item, str) and first is None:
            first = time.perf_counter()
    assert first is not None
    return first - t0


async def overhead(n: int) -> tuple[float, float]:
    inst = Instant()
    cfg = Config.model_validate({"models": {"router": {"tiers": {"default": "bench:instant"}}}})
    router = ModelRouter(cfg.models.router, lambda _name: inst)
    t0 = time.perf_counter()
    for _ in range(n):
        await drain(inst)
    direct = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for _ in range(n):
        await drain(router.route())
    routed = (time.perf_counter() - t0) / n
    return direct, routed


async def fallback(reps: int, cache: Path) -> tuple[list[float], list[float], list[float], float]:
    primary, backup = FakeServer("openai"), FakeServer("anthropic")
    retry = {"maxAttempts": 3, "initialDelayMs": 50, "multiplier": 2, "maxDelayMs": 1000}
    cfg = Config.model_validate(
        {
            "models": {
                "providers": {
                    "openai": {"baseUrl": primary.url + "/v1", "apiKey": "k"},
                    "anthropic": {"baseUrl": backup.url, "apiKey": "k"},
                },
                "router": {
                    "tiers": {"default": "openai:gpt-test"},
                    "tierFallbacks": {"default": ["anthropic:claude-test"]},
                    "retry": retry,
                    "cooldown": {"afterFailures": 1000, "seconds": 0},  # measure the retries every time
                },
            }
        }
    )
    built: dict[str, Provider] = {}

    def resolve(name: str) -> Provider:
        if name not in built:
            built[name] = build_provider(name, cfg.models.providers, cache)
        return built[name]

    router = ModelRouter(cfg.models.router, resolve)
    via_router, direct, failing = [], [], []
    try:
        for _ in range(reps):
            primary.faults += [Fault(status=500)] * 3
            via_router.append(await drain(router.route()))
            direct.append(await drain(resolve("anthropic:claude-test")))
            primary.faults.append(Fault(status=500))
            t0 = time.perf_counter()
            try:
                await drain(resolve("openai:gpt-test"))
            except ProviderError:
                failing.append(time.perf_counter() - t0)
    finally:
        for p in built.values():
            await p.close()
        primary.close()
        backup.close()
    backoff = (
        sum(min(retry["initialDelayMs"] * retry["multiplier"] ** i, retry["maxDelayMs"]) for i in range(2))
        / 1000
    )
    return via_router, direct, failing, backoff


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    direct, routed = asyncio.run(overhead(args.requests))
    print(f"1. overhead per request ({args.requests} requests of 8 tokens, a provider that answers at once)")
    print(
        f"   direct {direct * 1e6:8.1f} us   through the router {routed * 1e6:8.1f} us   "
        f"router's own cost {(routed - direct) * 1e6:7.1f} us   ratio {routed / direct:.2f}   target < 1000 us"
    )
    with tempfile.TemporaryDirectory() as cache:
        via, fb, failing, backoff = asyncio.run(fallback(args.reps, Path(cache)))
    med = statistics.median
    attempts = 3 * med(failing)
    bound = backoff + attempts + med(fb)
    print(f"\n2. primary failing every call (500 x 3 attempts), {args.reps} reps, medians")
    print(f"   first token via the router {med(via) * 1e3:7.1f} ms")
    print(
        f"   allowed: backoff {backoff * 1e3:.0f} ms + 3 failed attempts {attempts * 1e3:.1f} ms"
        f" + fallback's own first token {med(fb) * 1e3:.1f} ms = {bound * 1e3:.1f} ms"
    )
    print(f"   measured / allowed {med(via) / bound:.2f}")


if __name__ == "__main__":
    main()
