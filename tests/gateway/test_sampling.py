"""Sampling settings from the clients' own SDKs reach the model: OpenAI's top_p, penalties and seed,
Ollama's options; what a client leaves out comes from agents.default.sampling, then the model."""

from __future__ import annotations

import ollama
import openai
import pytest

from flynn_desktop.core.messages import Sampling
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_servers import FakeServer

ASK = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def gateway(cloud_gateway_with) -> tuple[str, str, FakeProvider, FakeServer]:  # type: ignore[no-untyped-def]
    """A gateway with agents.default.sampling set; the fake local model, and `cloudy:` models on a
    server on 127.0.0.1 that speaks OpenAI's wire format."""
    url, token, cloud, fake = cloud_gateway_with(
        {"sampling": {"repeatPenalty": 1.15, "topP": 0.8, "seed": 5}}
    )
    return url, token, fake, cloud


def test_openai_clients_sampling_reaches_an_openai_compatible_model(gateway) -> None:  # type: ignore[no-untyped-def]
    url, token, _fake, cloud = gateway
    c = openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0)
    c.chat.completions.create(
        model="cloudy:gpt-test",
        messages=ASK,  # type: ignore[arg-type]
        top_p=0.5,
        frequency_penalty=0.3,
        presence_penalty=0.2,
        seed=42,
    )
    body = cloud.chat_requests()[-1].body
    assert (body["top_p"], body["frequency_penalty"], body["presence_penalty"], body["seed"]) == (
        0.5,
        0.3,
        0.2,
        42,
    )
    assert "repeat_penalty" not in body and "top_k" not in body  # not part of Chat Completions
    # left out: agents.default.sampling
    c.chat.completions.create(model="cloudy:gpt-test", messages=ASK)  # type: ignore[arg-type]
    body = cloud.chat_requests()[-1].body
    assert body["top_p"] == 0.8 and body["seed"] == 5 and "frequency_penalty" not in body


def test_ollama_options_reach_the_local_model(gateway) -> None:  # type: ignore[no-untyped-def]
    url, token, fake, _cloud = gateway
    c = ollama.Client(host=url, headers={"Authorization": f"Bearer {token}"})
    options = {
        "top_k": 20,
        "top_p": 0.7,
        "min_p": 0.1,
        "repeat_penalty": 1.3,
        "repeat_last_n": 128,
        "seed": 7,
    }
    c.chat(model="flynn", messages=ASK, options=options)
    assert fake.params[-1].sampling == Sampling(
        top_p=0.7, top_k=20, min_p=0.1, repeat_penalty=1.3, repeat_last_n=128, seed=7
    )
    c.chat(model="flynn", messages=ASK, options={"seed": -1, "repeat_last_n": -1, "num_ctx": 2048})
    s = fake.params[-1].sampling
    # -1: a random seed (agents.default's then applies), and the whole context for the penalty
    assert s.seed == 5 and s.repeat_last_n == 2048 and s.repeat_penalty == 1.15 and s.top_p == 0.8


def test_bad_sampling_values_are_refused_with_the_field(gateway) -> None:  # type: ignore[no-untyped-def]
    url, token, _fake, _cloud = gateway
    c = openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="flynn", messages=ASK, frequency_penalty=9)  # type: ignore[arg-type]
    assert "frequency_penalty" in str(e.value)
