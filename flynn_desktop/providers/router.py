"""The router: which model answers, and what happens when it can't.

For a tier (or no choice at all) it walks the tier's model, then `tierFallbacks[tier]`, then the global
`fallbackChain`, then the `local` tier's model (so a cloud outage still gets a local answer). Each
model gets `retry.maxAttempts` tries on retryable errors only (rate limits, 5xx, timeouts, dropped
connections), waiting `initialDelayMs * multiplier**n` (capped at `maxDelayMs`), or the server's
Retry-After. A model that fails `cooldown.afterFailures` times in a row rests for `cooldown.seconds`,
and is skipped meanwhile unless nothing else is left. A model the user names explicitly is strict: if
it fails, the user is told; nothing else answers in its place.

The router commits to a model at its first token. If that stream dies later, the error reaches the
agent, which keeps the partial answer and marks it; the user never sees the same text twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from flynn_desktop.config.schema import CooldownConfig, RetryConfig, RouterConfig
from flynn_desktop.core.interfaces import CancelToken, ProgressCallback, Provider, ProviderBase
from flynn_desktop.core.messages import ChatMessage, GenerationParams, Served, StreamItem, Usage
from flynn_desktop.errors import ProviderBadRequestError, ProviderError

log = logging.getLogger(__name__)
Resolve = Callable[[str], Provider]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Health:
    failures: int = 0
    resting_until: float = 0.0


class ModelRouter:
    """Long-lived: it remembers each model's health across requests."""

    def __init__(
        self,
        config: RouterConfig,
        resolve: Resolve,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.resolve = resolve
        self.sleep = sleep
        self.clock = clock
        self.health: dict[str, Health] = {}

    def plan(self, requested: str | None) -> tuple[list[str], bool]:
        """The models to try, in order, and whether the choice is strict (an explicit model)."""
        tiers = self.config.tiers
        if requested is None or requested in tiers:
            tier = requested or "default"
            order = [tiers[tier], *self.config.tier_fallbacks.get(tier, []), *self.config.fallback_chain]
            if "local" in tiers:  # the last resort when every other model failed
                order.append(tiers["local"])
            return list(dict.fromkeys(order)), False
        return [requested], True

    def route(self, requested: str | None = None) -> RoutedProvider:
        order, strict = self.plan(requested)
        return RoutedProvider(self, order, strict)

    def resting(self, name: str) -> bool:
        h = self.health.get(name)
        return h is not None and h.resting_until > self.clock()

    def succeeded(self, name: str) -> None:
        self.health[name] = Health()

    def failed(self, name: str) -> None:
        h = self.health.setdefault(name, Health())
        h.failures += 1
        cd: CooldownConfig = self.config.cooldown
        if h.failures >= cd.after_failures:
            h.resting_until = self.clock() + cd.seconds
            log.warning("%s failed %d times in a row; resting it for %ss", name, h.failures, cd.seconds)

    def delay(self, attempt: int, error: ProviderError) -> float:
        r: RetryConfig = self.config.retry
        wait = min(r.initial_delay_ms * r.multiplier**attempt, r.max_delay_ms) / 1000
        after = getattr(error, "retry_after", None)
        if after is not None:
            wait = min(max(wait, after), r.max_delay_ms / 1000)
        return wait

    def retryable(self, error: ProviderError) -> bool:
        if not error.retryable:
            return False
        said = {error.code.lower(), (error.provider_code or "").lower(), type(error).__name__.lower()}
        return not any(p.lower() in s for p in self.config.retry.non_retryable_patterns for s in said if s)


class RoutedProvider(ProviderBase):
    """One request's view of the router: a Provider whose stream tries each model in turn."""

    def __init__(self, router: ModelRouter, order: list[str], strict: bool) -> None:
        self.router = router
        self.order = order
        self.strict = strict
        self.provider, _, self.model = order[0].partition(":")
        self._progress: ProgressCallback | None = None
        self.attempts: list[str] = []  # "name: outcome", for tests and the log

    def _primary(self) -> Provider | None:
        try:
            return self.router.resolve(self.order[0])
        except ProviderError:
            return None

    @property
    def local(self) -> bool:
        p = self._primary()
        return p.local if p else False

    @property
    def context_length(self) -> int:
        p = self._primary()
        return p.context_length if p else 4096

    async def load(self, progress: ProgressCallback | None = None) -> None:
        self._progress = progress  # models load when their turn comes

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> tuple[int, bool]:
        p = self._primary()
        if p is None:
            from flynn_desktop.core.tokens import estimate_prompt_tokens

            return estimate_prompt_tokens(messages), False
        return await p.count_tokens(messages)

    def _candidates(self) -> list[str]:
        awake = [n for n in self.order if not self.router.resting(n)]
        return awake or list(self.order)

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[StreamItem]:
        r = self.router
        notes: list[str] = []
        failed: list[str] = []
        last: ProviderError | None = None
        for name in self._candidates():
            try:
                provider = r.resolve(name)
            except ProviderError as e:
                notes.append(f"{name}: {e.message}")
                failed.append(name)
                last = e
                continue
            asked, dropped = params, False
            if params.tools and not provider.supports_tools:
                if params.tool_choice in (None, "auto", "none"):  # tools are optional: answer in text
                    asked, dropped = dataclasses.replace(params, tools=(), tool_choice=None), True
                else:
                    last = ProviderBadRequestError(
                        f"{name} does not take tools, and the request requires one (tool_choice).",
                        "Ask a model that does (Ollama, or an OpenAI-compatible provider), or send no tools.",
                    )
                    notes.append(f"{name}: {last.message}")
                    failed.append(name)
                    continue
            attempts = r.config.retry.max_attempts
            for attempt in range(attempts):
                items = provider.stream(messages, asked, cancel)
                try:
                    await provider.load(self._progress)
                    first = await anext(items)
                except StopAsyncIteration:
                    first = Usage(0, 0, False)
                except ProviderError as e:
                    last = e
                    self.attempts.append(f"{name}: {e.code}")
                    await _close(items)
                    if r.retryable(e) and attempt + 1 < attempts and not cancel.cancelled:
                        await r.sleep(r.delay(attempt, e))
                        continue
                    r.failed(name)
                    notes.append(f"{name}: {e.message}")
                    failed.append(name)
                    break
                r.succeeded(name)
                self.attempts.append(f"{name}: ok")
                yield Served(
                    provider.provider, provider.model, provider.local, tuple(notes), tuple(failed), dropped
                )
                yield first
                async for item in items:  # past the first token, a failure is the agent's to report
                    yield item
                return
            if self.strict or cancel.cancelled:
                break
        if self.strict and last is not None:
            raise type(last)(
                f"{last.message}",
                f"You picked {self.order[0]} yourself, so Flynn did not answer with another model. "
                + (last.hint or ""),
            )
        if len(notes) == 1 and last is not None:
            raise last  # one model was asked: its own error says best what to do
        raise ProviderError(
            "No model could answer. " + " ".join(f"[{n}]" for n in notes),
            "Check models.router and models.providers in config.yaml; "
            "`flynn models list` shows what is reachable.",
        )

    async def close(self) -> None:
        return None


async def _close(items: AsyncIterator[object]) -> None:
    aclose = getattr(items, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):  # a broken stream may fail again; the first error counts
            await aclose()
