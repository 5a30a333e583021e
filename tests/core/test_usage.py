from __future__ import annotations

from datetime import datetime

from flynn_desktop.core.events import Delta, RunError, RunFinished, RunRouted, RunStarted
from flynn_desktop.core.messages import UsageRecord
from flynn_desktop.core.usage import UsageRecorder, percentile, summarize


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
        UsageRecord("local", "m", False),
    ]


def test_summary_costs_and_percentiles() -> None:
    recs = [
        UsageRecord("openai", "g", True, True, 1_000_000, 500_000, float(ms), 100.0) for ms in range(1, 101)
    ]
    recs += [
        UsageRecord("openai", "g", False, True),
        UsageRecord("local", "m", True, False, 10, 5, 50.0, 20.0),
    ]
    recs += [UsageRecord("cloud", "x", True, True, 10, 10, 1.0, 1.0)]
    rows = {r.model: r for r in summarize(recs, {"openai:g": (3.0, 15.0)})}
    g = rows["openai:g"]
    assert (g.answers, g.errors, g.remote) == (100, 1, True)
    assert g.cost == 100 * (3.0 + 15.0 * 0.5)
    assert (g.latency_p50_ms, g.latency_p95_ms, g.first_token_p50_ms) == (50.0, 95.0, 100.0)
    assert rows["local:m"].cost == 0.0 and not rows["local:m"].remote
    assert rows["cloud:x"].cost is None  # a cloud model without a price: unknown, not free
    assert percentile([], 50) is None and percentile([7.0], 95) == 7.0
