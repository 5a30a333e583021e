"""GET /metrics: the Prometheus text format, parsed by prometheus_client's own parser, after answers
that finished, failed and timed out (a cloud on 127.0.0.1 that errs and one that never answers)."""

from __future__ import annotations

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from flynn_desktop.config import Config
from flynn_desktop.gateway.server import GatewayServer
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_servers import FakeServer, Fault


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_answers_errors_and_timeouts(make_runtime) -> None:  # type: ignore[no-untyped-def]
    cloud = FakeServer("openai")
    cfg = Config.model_validate(
        {
            "gateway": {"port": 0},
            "models": {
                "providers": {"cloudy": {"baseUrl": cloud.url + "/v1", "timeoutMs": 300}},
                "router": {"retry": {"maxAttempts": 1}},
            },
        }
    )
    rt = make_runtime(FakeProvider(), config=cfg)
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.tokens.get(), max_retries=0)
        ask = [{"role": "user", "content": "hello"}]
        for _ in range(2):
            client.chat.completions.create(model="flynn", messages=ask)  # type: ignore[arg-type]
        cloud.faults += [Fault(status=400), Fault(hang=True)]
        for _ in range(2):
            with pytest.raises(openai.APIError):
                client.chat.completions.create(model="cloudy:gpt-test", messages=ask)  # type: ignore[arg-type]

        assert httpx.get(gw.url + "/metrics").status_code == 401  # private, like everything but /health
        r = httpx.get(gw.url + "/metrics", headers={"Authorization": f"Bearer {gw.tokens.get()}"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        got = samples(r.text)
        local = (("model", "fake:scripted"),)
        assert got[("flynn_requests_total", (*local, ("outcome", "ok")))] == 2
        assert got[("flynn_requests_total", (("model", "cloudy:gpt-test"), ("outcome", "error")))] == 1
        assert got[("flynn_requests_total", (("model", "cloudy:gpt-test"), ("outcome", "timeout")))] == 1
        assert got[("flynn_answer_seconds_count", local)] == 2
        assert got[("flynn_first_token_seconds_count", local)] == 2
        assert got[("flynn_answer_seconds_bucket", (("le", "+Inf"), *local))] == 2
        assert got[("flynn_tokens_total", (("direction", "out"), *local))] == 8
        assert got[("flynn_answers_in_flight", ())] == 0 and got[("flynn_concurrent_sessions", ())] == 0
        assert ("flynn_info", (("version", __import__("flynn_desktop").__version__),)) in got
        # the stored history says the same, with the rates
        rows = {u.model: u for u in rt.submit(rt.sessions.usage()).result()}
        assert rows["cloudy:gpt-test"].timeout_rate == 0.5 and rows["cloudy:gpt-test"].error_rate == 1.0
        assert rows["all"].answers == 2 and rows["all"].errors == 2
    finally:
        rt.submit(gw.stop()).result()
        cloud.close()
