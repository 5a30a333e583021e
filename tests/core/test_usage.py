from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flynn_desktop.core.events import Delta, RunError, RunFinished, RunRouted, RunStarted
from flynn_desktop.core.messages import UsageRecord
from flynn_desktop.core.usage import ALL, UsageRecorder, daily, peak_concurrent, percentile, summarize


class MemoryUsage:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def record_usage(self, record: UsageRecord) -> None:
        self.records.append(record)

    def usage_records(self, since: datetime | None = None) -> list[tuple[datetime, UsageRecord]]:
        raise NotImplementedError


def test_the_recorder_follows_a_run() -> None:
    store, now = MemoryUsage(), [10.0]
    rec = UsageRecorder(store, clock=lambda: now[0])
    rec(RunStarted("r1", "s", 1, 2, "anthropic:c"))
    rec(RunRouted("r1", "s", 2, "openai:g", local=False, failed=("anthropic:c",)))
    now[0] = 10.5
    rec(Delta("r1", "s", 2, "Hi"))
    now[0] = 12.0
    rec(RunFinished("r1", "s", 2, 100, 20, "stop"))
    rec(RunStarted("r2", "s", 3, 4, "local:m"))
    rec(RunError("r2", "s", 4, "MODEL", "boom"))
    assert store.records == [
        UsageRecord("anthropic", "c", False),
        UsageRecord("openai", "g", True, True, 100, 20, 2000.0, 500.0),
        UsageRecord("local", "m", False, error="MODEL"),
    ]


T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_summary_costs_and_percentiles() -> None:
    recs = [
        (at(ms), UsageRecord("openai", "g", True, True, 1_000_000, 500_000, float(ms), 100.0))
        for ms in range(1, 101)
    ]
    recs += [
        (at(100), UsageRecord("openai", "g", False, True, error="PROVIDER_TIMEOUT")),
        (at(101), UsageRecord("local", "m", True, False, 10, 5, 50.0, 20.0)),
    ]
    recs += [(at(102), UsageRecord("cloud", "x", True, True, 10, 10, 1.0, 1.0))]
    rows = {r.model: r for r in summarize(recs, {"openai:g": (3.0, 15.0)})}
    g = rows["openai:g"]
    assert (g.answers, g.errors, g.remote) == (100, 1, True)
    assert g.cost == 100 * (3.0 + 15.0 * 0.5)
    assert (g.latency_p50_ms, g.latency_p95_ms, g.latency_p99_ms, g.first_token_p50_ms) == (
        50.0,
        95.0,
        99.0,
        100.0,
    )
    assert g.mean_tokens_in == 1_000_000 and g.mean_tokens_out == 500_000
    assert g.error_rate == g.timeout_rate == 1 / 101
    assert g.per_second == 101 / 99  # 101 requests from second 1 to second 100
    assert rows["local:m"].cost == 0.0 and not rows["local:m"].remote and rows["local:m"].error_rate == 0
    assert rows["cloud:x"].cost is None  # a cloud model without a price: unknown, not free
    everything = rows[ALL]
    assert (everything.answers, everything.errors, everything.cost) == (102, 1, None)  # one price unknown
    assert percentile([], 50) is None and percentile([7.0], 95) == 7.0


def test_peak_concurrency_counts_answers_that_overlap() -> None:
    def answer(end: float, seconds: float) -> tuple[datetime, UsageRecord]:
        return at(end), UsageRecord("local", "m", True, latency_ms=seconds * 1000)

    # 0-10 and 2-6 overlap, 5-9 joins them (three at once from 5 to 6); 10-12 starts as the first ends
    recs = [answer(10, 10), answer(6, 4), answer(9, 4), answer(12, 2)]
    assert peak_concurrent(recs) == 3
    assert peak_concurrent([answer(10, 10), answer(12, 2)]) == 1  # one ends as the next begins
    assert summarize(recs, {})[0].peak_concurrent == 3


def test_days_add_up_tokens_and_cost() -> None:
    recs = [
        (at(0), UsageRecord("openai", "g", True, True, 1_000_000, 0)),
        (at(60), UsageRecord("openai", "g", True, True, 0, 1_000_000)),
        (at(86400 * 2), UsageRecord("local", "m", True, False, 5, 5)),
        (at(86400 * 2 + 1), UsageRecord("local", "m", False)),
    ]
    days = daily(recs, {"openai:g": (3.0, 15.0)})
    assert [(d.answers, d.tokens_in, d.tokens_out, d.cost) for d in days] == [
        (2, 1_000_000, 1_000_000, 18.0),
        (1, 5, 5, 0.0),
    ]
    assert days[1].day - days[0].day == timedelta(days=2)
