"""Every gateway dialect shares the local model's slots: an OpenAI, an Ollama and an Anthropic client
asking at once, with their official SDKs, are answered together in shared decode steps."""

from __future__ import annotations

import threading

import anthropic
import httpx
import ollama
import openai
import pytest

from flynn_desktop.providers.llama_cpp import LlamaCppProvider
from tests.gateway.conftest import Live
from tests.gateway.test_metrics import samples
from tests.helpers.slots import hold_until, snapshot

pytestmark = pytest.mark.model


def test_three_dialects_at_once_share_decode_steps(live: Live) -> None:
    rt = live.runtime
    provider = rt.models.provider_for(rt.config.models.router.tiers["default"])  # type: ignore[attr-defined]
    assert isinstance(provider, LlamaCppProvider)
    rt.submit(provider.load()).result()  # type: ignore[attr-defined]
    engine = provider.engine
    assert engine is not None
    before = snapshot(engine)
    hold_until(engine, 3)
    answers: dict[str, str] = {}

    def via_openai() -> None:
        c = openai.OpenAI(base_url=live.url + "/v1", api_key=live.token, max_retries=0)
        stream = c.chat.completions.create(
            model="flynn",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=24,
            temperature=0,
            stream=True,
        )
        answers["openai"] = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)

    def via_ollama() -> None:
        c = ollama.Client(host=live.url, headers={"Authorization": f"Bearer {live.token}"})
        r = c.chat(
            model="flynn",
            messages=[{"role": "user", "content": "Name three colours."}],
            options={"num_predict": 24, "temperature": 0},
        )
        answers["ollama"] = r.message.content or ""

    def via_anthropic() -> None:
        c = anthropic.Anthropic(base_url=live.url, api_key=live.token, max_retries=0)
        with c.messages.stream(
            model="flynn", max_tokens=24, messages=[{"role": "user", "content": "Tell me about the moon."}]
        ) as s:
            answers["anthropic"] = "".join(s.text_stream)

    threads = [threading.Thread(target=f) for f in (via_openai, via_ollama, via_anthropic)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert set(answers) == {"openai", "ollama", "anthropic"} and all(answers.values()), answers
    assert "Paris" in answers["openai"]
    after = snapshot(engine)
    generated = after.generated_tokens - before.generated_tokens
    assert after.requests - before.requests == 3
    assert after.shared_steps > before.shared_steps
    assert after.decode_calls - before.decode_calls < generated  # tokens of different clients per call
    # /metrics shows the slots: nothing answering now, their memory, and the counters since load
    r = httpx.get(live.url + "/metrics", headers={"Authorization": f"Bearer {live.token}"})
    got = samples(r.text)
    assert got[("flynn_local_slots_answering", ())] == 0 and got[("flynn_local_requests_waiting", ())] == 0
    assert got[("flynn_local_kv_cache_bytes", ())] == provider.kv_bytes_per_slot * (provider.parallel + 1) > 0
    assert got[("flynn_local_generated_tokens", ())] == after.generated_tokens
    assert got[("flynn_local_decode_calls", ())] == after.decode_calls
