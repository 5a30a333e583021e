"""Live metrics, for `GET /metrics` (the Prometheus text format, through prometheus-client): answers by
model and outcome, answer and first-token latency histograms, tokens, and what is in flight now
(answers, sessions). They count from this start of Flynn; the stored history is `flynn usage`'s.
Everything is touched on the Runtime's loop thread (events, and the gateway's scrape)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from flynn_desktop import __version__
from flynn_desktop.core.events import RUN_END_EVENTS, Event, RunStarted
from flynn_desktop.core.messages import UsageRecord
from flynn_desktop.core.usage import TIMEOUTS

# seconds: from an autocomplete's first token to a long local answer
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)  # Flynn's own, not the process-global one
        r = self.registry
        asked = "Answers asked for, by model and outcome (ok, error, timeout)"
        self.requests = Counter("flynn_requests", asked, ["model", "outcome"], registry=r)
        whole = "Whole-answer time of answers that finished"
        self.answer = Histogram("flynn_answer_seconds", whole, ["model"], buckets=BUCKETS, registry=r)
        self.first_token = Histogram(
            "flynn_first_token_seconds", "Time to the first token", ["model"], buckets=BUCKETS, registry=r
        )
        self.tokens = Counter(
            "flynn_tokens", "Tokens, by model and direction (in, out)", ["model", "direction"], registry=r
        )
        self._runs: dict[str, str] = {}  # run id -> its session (or itself, for a client's own history)
        self._last_end = time.monotonic()
        Gauge("flynn_answers_in_flight", "Answers streaming now", registry=r).set_function(
            lambda: len(self._runs)
        )
        Gauge(
            "flynn_concurrent_sessions", "Conversations with an answer streaming now", registry=r
        ).set_function(lambda: len(set(self._runs.values())))
        Gauge("flynn_start_time_seconds", "When this Flynn started (Unix time)", registry=r).set(time.time())
        Info("flynn", "This Flynn", registry=r).info({"version": __version__})

    def watch_slots(self, slots: Callable[[], dict[str, dict[str, Any]]]) -> None:
        """The local models' slots, read at each scrape: answering, waiting, their KV memory, and
        prompt tokens read against those found already in a slot (since the model loaded)."""
        r = self.registry

        def total(key: str, stat: bool = False) -> Callable[[], float]:
            return lambda: float(
                sum((s.get("stats", {}) if stat else s).get(key, 0) for s in slots().values())
            )

        for name, key, stat, doc in [
            ("flynn_local_slots_answering", "running", False, "Local model slots answering now"),
            ("flynn_local_requests_waiting", "waiting", False, "Requests waiting for a local model slot"),
            ("flynn_local_kv_cache_bytes", "kv_bytes", False, "KV cache memory of the local models' slots"),
            ("flynn_local_prompt_tokens_read", "prompt_tokens", True, "Prompt tokens read since load"),
            ("flynn_local_prompt_tokens_cached", "cached_tokens", True, "Prompt tokens found in a slot"),
            ("flynn_local_decode_calls", "decode_calls", True, "llama_decode calls since load"),
            ("flynn_local_generated_tokens", "generated_tokens", True, "Tokens generated since load"),
        ]:
            Gauge(name, doc, registry=r).set_function(total(key, stat))

    def on_event(self, ev: Event) -> None:
        if isinstance(ev, RunStarted):
            self._runs[ev.run_id] = ev.session_id or ev.run_id
        elif isinstance(ev, RUN_END_EVENTS) and self._runs.pop(ev.run_id, None) is not None:
            self._last_end = time.monotonic()

    def observe(self, rec: UsageRecord) -> None:
        """One answer (or failed attempt), from the usage recorder."""
        model = f"{rec.provider}:{rec.model}"
        outcome = "ok" if rec.ok else "timeout" if rec.error in TIMEOUTS else "error"
        self.requests.labels(model, outcome).inc()
        if not rec.ok:
            return
        self.tokens.labels(model, "in").inc(rec.tokens_in)
        self.tokens.labels(model, "out").inc(rec.tokens_out)
        if rec.latency_ms is not None:
            self.answer.labels(model).observe(rec.latency_ms / 1000)
        if rec.first_token_ms is not None:
            self.first_token.labels(model).observe(rec.first_token_ms / 1000)

    def idle_for(self) -> float:
        """Seconds since the last answer ended (or Flynn started); 0 while one streams."""
        return 0.0 if self._runs else time.monotonic() - self._last_end

    def text(self) -> bytes:
        return generate_latest(self.registry)
