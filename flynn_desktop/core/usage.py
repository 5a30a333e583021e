"""Usage statistics: which models answered, how much, how fast, and at what cost.

`UsageRecorder` listens to a run's events and writes one record per answer, plus one per model that
failed before another answered. `summarize` turns records into per-model rows with latency percentiles
and cost from the price table (`models.prices`, USD per million tokens in and out).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from flynn_desktop.core.events import Delta, Event, RunError, RunFinished, RunRouted, RunStarted
from flynn_desktop.core.interfaces import UsageStore
from flynn_desktop.core.messages import UsageRecord
from flynn_desktop.errors import FlynnError

log = logging.getLogger(__name__)


@dataclass
class _Run:
    t0: float
    model: str
    remote: bool = False
    first_token: float | None = None


class UsageRecorder:
    def __init__(self, store: UsageStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self._runs: dict[str, _Run] = {}

    def __call__(self, ev: Event) -> None:
        try:
            self._on(ev)
        except FlynnError as e:  # statistics must never break an answer (e.g. the disk is full)
            log.warning("could not record usage: %s", e.message)

    def _on(self, ev: Event) -> None:
        if isinstance(ev, RunStarted):
            self._runs[ev.run_id] = _Run(self.clock(), ev.model)
        elif isinstance(ev, RunRouted) and (run := self._runs.get(ev.run_id)):
            run.model, run.remote = ev.model, not ev.local
            for name in ev.failed:
                self._record(name, ok=False)
        elif isinstance(ev, Delta) and (run := self._runs.get(ev.run_id)) and run.first_token is None:
            run.first_token = self.clock()
        elif isinstance(ev, RunFinished) and (run := self._runs.pop(ev.run_id, None)):
            ms = 1000 * (self.clock() - run.t0)
            ttft = 1000 * (run.first_token - run.t0) if run.first_token is not None else None
            self._record(run.model, True, run.remote, ev.tokens_in, ev.tokens_out, ms, ttft)
        elif isinstance(ev, RunError) and (run := self._runs.pop(ev.run_id, None)):
            self._record(run.model, ok=False, remote=run.remote)

    def _record(
        self,
        name: str,
        ok: bool,
        remote: bool = False,
        tokens_in: int = 0,
        tokens_out: int = 0,
        latency_ms: float | None = None,
        first_token_ms: float | None = None,
    ) -> None:
        provider, _, model = name.partition(":")
        record = UsageRecord(provider, model, ok, remote, tokens_in, tokens_out, latency_ms, first_token_ms)
        self.store.record_usage(record)


@dataclass(frozen=True)
class UsageRow:
    model: str
    remote: bool
    answers: int
    errors: int
    tokens_in: int
    tokens_out: int
    cost: float | None  # None: no price configured for this model
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    first_token_p50_ms: float | None


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def summarize(records: Sequence[UsageRecord], prices: Mapping[str, tuple[float, float]]) -> list[UsageRow]:
    by_model: dict[str, list[UsageRecord]] = {}
    for r in records:
        by_model.setdefault(f"{r.provider}:{r.model}", []).append(r)
    rows = []
    for name, rs in sorted(by_model.items()):
        ok = [r for r in rs if r.ok]
        tin, tout = sum(r.tokens_in for r in ok), sum(r.tokens_out for r in ok)
        price = prices.get(name)
        remote = any(r.remote for r in rs)
        if price:
            cost: float | None = (tin * price[0] + tout * price[1]) / 1e6
        else:
            cost = None if remote else 0.0  # local models cost nothing; unknown cloud prices are unknown
        lat = [r.latency_ms for r in ok if r.latency_ms is not None]
        ttft = [r.first_token_ms for r in ok if r.first_token_ms is not None]
        rows.append(
            UsageRow(
                name,
                remote,
                len(ok),
                len(rs) - len(ok),
                tin,
                tout,
                cost,
                percentile(lat, 50),
                percentile(lat, 95),
                percentile(ttft, 50),
            )
        )
    return rows
