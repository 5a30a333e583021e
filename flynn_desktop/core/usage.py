"""Usage statistics: which models answered, how much, how fast, and at what cost.

`UsageRecorder` listens to a run's events and writes one record per answer, plus one per model that
failed before another answered. `summarize` turns records into per-model rows (latency and first-token
percentiles, mean tokens, error and timeout rates, requests per second, peak concurrency) and cost from
the price table (`models.prices`, USD per million tokens in and out); `daily` gives the days' totals.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

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
    def __init__(
        self,
        store: UsageStore,
        clock: Callable[[], float] = time.monotonic,
        also: Callable[[UsageRecord], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.also = also  # another listener for each record (the live metrics)
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
            self._record(run.model, ok=False, remote=run.remote, error=ev.code)

    def _record(
        self,
        name: str,
        ok: bool,
        remote: bool = False,
        tokens_in: int = 0,
        tokens_out: int = 0,
        latency_ms: float | None = None,
        first_token_ms: float | None = None,
        error: str | None = None,
    ) -> None:
        provider, _, model = name.partition(":")
        record = UsageRecord(
            provider, model, ok, remote, tokens_in, tokens_out, latency_ms, first_token_ms, error
        )
        if self.also is not None:
            self.also(record)  # first: live metrics count even when the disk is full
        self.store.record_usage(record)


TIMEOUTS = frozenset({"PROVIDER_TIMEOUT", "TIMEOUT"})  # a provider that did not answer in time, a queue
ALL = "all"  # the row over every model


@dataclass(frozen=True)
class UsageRow:
    model: str  # provider:model, or "all"
    remote: bool
    answers: int
    errors: int
    tokens_in: int
    tokens_out: int
    cost: float | None  # None: no price configured for this model
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    first_token_p50_ms: float | None
    latency_p99_ms: float | None = None
    first_token_p95_ms: float | None = None
    first_token_p99_ms: float | None = None
    mean_tokens_in: float | None = None  # per answer
    mean_tokens_out: float | None = None
    error_rate: float = 0.0  # failed / all requests
    timeout_rate: float = 0.0  # timed out / all requests
    per_second: float = 0.0  # requests per second, from the first request in the window to the last
    peak_concurrent: int = 0  # the most answers in flight at once


@dataclass(frozen=True)
class DayUsage:
    day: date  # local time
    answers: int
    tokens_in: int
    tokens_out: int
    cost: float | None  # None when a cloud model without a price answered that day


Timed = tuple[datetime, UsageRecord]
Prices = Mapping[str, tuple[float, float]]  # provider:model -> USD per million tokens in, out


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _cost(records: Sequence[UsageRecord], name: str, prices: Prices) -> float | None:
    ok = [r for r in records if r.ok]
    price = prices.get(name)
    if price:
        return sum(r.tokens_in * price[0] + r.tokens_out * price[1] for r in ok) / 1e6
    return None if any(r.remote for r in records) else 0.0  # local: free; an unpriced cloud: unknown


def _total_cost(records: Sequence[UsageRecord], prices: Prices) -> float | None:
    """The cost of records of any models: unknown when one of them is an unpriced cloud model."""
    by_model: dict[str, list[UsageRecord]] = {}
    for r in records:
        by_model.setdefault(f"{r.provider}:{r.model}", []).append(r)
    costs = [_cost(rs, name, prices) for name, rs in by_model.items()]
    return None if None in costs else sum(c for c in costs if c is not None)


def peak_concurrent(timed: Sequence[Timed]) -> int:
    """The most answers in flight at once: each ran from (recorded - latency) to recorded."""
    edges: list[tuple[float, int]] = []
    for at, r in timed:
        if r.latency_ms is not None:
            end = at.timestamp()
            edges += [(end - r.latency_ms / 1000, 1), (end, -1)]
    peak = now = 0
    for _t, step in sorted(edges, key=lambda e: (e[0], e[1])):  # an end before a start at the same time
        now += step
        peak = max(peak, now)
    return peak


def _row(name: str, timed: Sequence[Timed], cost: float | None) -> UsageRow:
    rs = [r for _at, r in timed]
    ok = [r for r in rs if r.ok]
    lat = [r.latency_ms for r in ok if r.latency_ms is not None]
    ttft = [r.first_token_ms for r in ok if r.first_token_ms is not None]
    tin, tout = sum(r.tokens_in for r in ok), sum(r.tokens_out for r in ok)
    times = [at.timestamp() for at, _r in timed]
    span = max(times) - min(times) if times else 0.0
    return UsageRow(
        model=name,
        remote=any(r.remote for r in rs),
        answers=len(ok),
        errors=len(rs) - len(ok),
        tokens_in=tin,
        tokens_out=tout,
        cost=cost,
        latency_p50_ms=percentile(lat, 50),
        latency_p95_ms=percentile(lat, 95),
        first_token_p50_ms=percentile(ttft, 50),
        latency_p99_ms=percentile(lat, 99),
        first_token_p95_ms=percentile(ttft, 95),
        first_token_p99_ms=percentile(ttft, 99),
        mean_tokens_in=tin / len(ok) if ok else None,
        mean_tokens_out=tout / len(ok) if ok else None,
        error_rate=(len(rs) - len(ok)) / len(rs) if rs else 0.0,
        timeout_rate=sum(r.error in TIMEOUTS for r in rs) / len(rs) if rs else 0.0,
        per_second=len(rs) / span if span > 0 else 0.0,
        peak_concurrent=peak_concurrent(timed),
    )


def summarize(timed: Sequence[Timed], prices: Prices) -> list[UsageRow]:
    """One row per model, then (when there is more than one model) the row over all of them."""
    by_model: dict[str, list[Timed]] = {}
    for at, r in timed:
        by_model.setdefault(f"{r.provider}:{r.model}", []).append((at, r))
    rows = [_row(name, ts, _cost([r for _a, r in ts], name, prices)) for name, ts in sorted(by_model.items())]
    if len(rows) > 1:
        rows.append(_row(ALL, timed, _total_cost([r for _at, r in timed], prices)))
    return rows


def daily(timed: Sequence[Timed], prices: Prices) -> list[DayUsage]:
    """Answers, tokens and cost per day (local time), oldest first: the Usage page's chart."""
    by_day: dict[date, list[UsageRecord]] = {}
    for at, r in timed:
        by_day.setdefault(at.astimezone().date(), []).append(r)
    out = []
    for day, rs in sorted(by_day.items()):
        ok = [r for r in rs if r.ok]
        cost = _total_cost(rs, prices)
        out.append(DayUsage(day, len(ok), sum(r.tokens_in for r in ok), sum(r.tokens_out for r in ok), cost))
    return out
