"""What real clients trip on: retrieving a model, Ollama's older embeddings call, error shapes per
dialect, fill-in-the-middle from editor plugins, optional tools for a model without them, and one log
line per request."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess

import httpx
import ollama
import openai
import pytest

from flynn_desktop.gateway.fim import split_fim, strip_echo
from tests.conftest import FLYNN
from tests.gateway.conftest import Live


def oai(live: Live) -> openai.OpenAI:
    return openai.OpenAI(base_url=live.url + "/v1", api_key=live.token, max_retries=0)


def test_a_model_can_be_retrieved(live: Live) -> None:
    c = oai(live)
    assert c.models.retrieve("flynn").id == "flynn"
    assert c.models.retrieve("local:smollm2-135m").owned_by == "flynn"
    with pytest.raises(openai.NotFoundError) as e:
        c.models.retrieve("nosuch:model")
    assert "nosuch:model" in str(e.value)


def test_ollamas_older_embeddings_call(live: Live) -> None:
    c = ollama.Client(host=live.url, headers={"Authorization": f"Bearer {live.token}"})
    vector = c.embeddings(model="flynn", prompt="The harbour ferry leaves at 08:15.")["embedding"]
    assert len(vector) == 384 and abs(sum(v * v for v in vector) - 1) < 1e-3


def test_refusals_and_unknown_paths_speak_each_dialect(live: Live) -> None:
    bad = {"Authorization": "Bearer wrong"}
    r = httpx.post(live.url + "/api/chat", json={}, headers=bad)
    assert r.status_code == 401 and isinstance(r.json()["error"], str) and "token" in r.json()["error"]
    with pytest.raises(ollama.ResponseError) as e:  # what ollama's clients show the user
        ollama.Client(host=live.url, headers=bad).list()
    assert "token" in str(e.value) and "object" not in str(e.value)
    r = httpx.post(live.url + "/v1/chat/completions", json={}, headers=bad)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    good = {"Authorization": f"Bearer {live.token}"}
    r = httpx.get(live.url + "/api/nosuch", headers=good)
    assert r.status_code == 404 and isinstance(r.json()["error"], str)
    r = httpx.get(live.url + "/v1/nosuch", headers=good)
    assert r.status_code == 404 and "no such endpoint" in r.json()["error"]["message"]
    r = httpx.get(live.url + "/v1/chat/completions", headers=good)
    assert r.status_code == 405 and "message" in r.json()["error"]


def test_fill_in_the_middle_formats_are_read() -> None:
    code = "def add(a, b):\n    return "
    for prompt in (
        f"<fim_prefix>{code}<fim_suffix>\n\nprint(add(1, 2))<fim_middle>",
        f"<|fim_prefix|>{code}<|fim_suffix|>\n\nprint(add(1, 2))<|fim_middle|>",
        f"<PRE> {code} <SUF>\n\nprint(add(1, 2)) <MID>",
        f"<|fim▁begin|>{code}<|fim▁hole|>\n\nprint(add(1, 2))<|fim▁end|>",
    ):
        assert split_fim(prompt) == (code, "\n\nprint(add(1, 2))"), prompt
    assert split_fim("plain text, no marks") is None
    assert strip_echo(code, "```python\ndef add(a, b):\n    return a + b") == "a + b"
    assert strip_echo(code, "a + b") == "a + b"
    assert strip_echo("x = ", "= 5") == "= 5"  # a short overlap is not an echo


def test_autocomplete_completes_and_never_repeats_the_prefix(live: Live) -> None:
    assert live.fake is not None
    code = "def add(a, b):\n    return "
    live.fake.replies = ["```python\n", "def add(a, b):\n", "    return ", "a + b", "\n```"]
    h = {"Authorization": f"Bearer {live.token}"}
    show = httpx.post(live.url + "/api/show", json={"model": "flynn"}, headers=h).json()
    assert ".Suffix" in show["template"] and "insert" in show["capabilities"]
    raw = {
        "model": "flynn",
        "raw": True,
        "stream": False,
        "prompt": f"<fim_prefix>{code}<fim_suffix>\n<fim_middle>",
    }
    r = httpx.post(live.url + "/api/generate", json=raw, headers=h, timeout=60)
    assert r.status_code == 200 and r.json()["response"] == "a + b", r.json()
    sent = live.fake.prompts[-1][-1].content
    assert "<CURSOR>" in sent and "<fim_prefix>" not in sent and sent.startswith(code)
    c = ollama.Client(host=live.url, headers=h)
    streamed = "".join(p.response for p in c.generate(model="flynn", prompt=code, suffix="\n", stream=True))
    assert streamed == "a + b"
    done = oai(live).completions.create(model="flynn", prompt=code, suffix="\n", max_tokens=16)
    assert done.choices[0].text == "a + b"


def test_optional_tools_for_a_model_without_them(live: Live) -> None:
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
    r = oai(live).chat.completions.with_raw_response.create(
        model="flynn",
        messages=[{"role": "user", "content": "hi"}],
        tools=tools,  # type: ignore[arg-type]
    )
    assert r.headers.get("x-flynn-tools-dropped") == "true"
    assert r.parse().choices[0].message.content == "Hello from the fake."
    with pytest.raises(openai.BadRequestError) as e:
        oai(live).chat.completions.create(
            model="flynn",
            messages=[{"role": "user", "content": "hi"}],
            tools=tools,
            tool_choice="required",  # type: ignore[arg-type]
        )
    assert "does not take tools" in str(e.value)


def test_one_log_line_per_request(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="flynn_desktop.gateway.requests"):
        oai(live).chat.completions.create(
            model="flynn", messages=[{"role": "user", "content": "secret words"}]
        )
        httpx.get(live.url + "/v1/models", headers={"Authorization": "Bearer wrong"})
    lines = [r.getMessage() for r in caplog.records if r.name == "flynn_desktop.gateway.requests"]
    chat = next(line for line in lines if "/v1/chat/completions" in line)
    assert (
        chat.startswith("OpenAI ")
        and " openai POST " in chat
        and "model=flynn" in chat
        and "status=200" in chat
    )
    assert "tokens=" in chat and "tokens=0/0" not in chat and "secret words" not in chat  # never the content
    assert any("/v1/models" in line and "status=401" in line for line in lines)


@pytest.mark.slow
def test_serve_takes_its_port_from_the_command_line_or_the_environment(clean_env: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for args, env in (
        (["serve", "--port", str(port)], clean_env),
        (["serve"], {**clean_env, "FLYNN_PORT": str(port)}),
    ):
        serve = subprocess.Popen([FLYNN, *args], env=env, stderr=subprocess.PIPE, text=True)
        try:
            assert serve.stderr is not None
            ready = next((line for line in serve.stderr if line.startswith("flynn: ready")), "")
            assert f"127.0.0.1:{port}" in ready, ready
            assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        finally:
            os.kill(serve.pid, signal.SIGTERM)
            serve.wait(60)
    bad = subprocess.run(
        [FLYNN, "serve", "--port", "70000"], env=clean_env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "70000" in bad.stderr


def test_flynn_logs_shows_the_gateway_lines(clean_env: dict[str, str], flynn_home) -> None:  # type: ignore[no-untyped-def]
    logs = flynn_home / "logs"
    logs.mkdir(parents=True)
    (logs / "flynn.log").write_text(
        '{"time": "2026-12-01T10:00:00", "level": "info", "logger": "flynn_desktop.runtime", "message": "started"}\n'
        '{"time": "2026-12-01T10:00:01", "level": "info", "logger": "flynn_desktop.gateway.requests",'
        ' "message": "Continue openai POST /v1/chat/completions model=flynn status=200 tokens=12/30 80ms"}\n'
    )
    r = subprocess.run(
        [FLYNN, "logs", "--gateway"], env=clean_env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and "Continue openai POST" in r.stdout and "started" not in r.stdout


def test_a_structured_output_request_that_cant_be_met_is_400(live: Live) -> None:
    h = {"Authorization": f"Bearer {live.token}"}
    ask = {"model": "flynn", "messages": [{"role": "user", "content": "hi"}]}
    for rf in (
        {"type": "xml"},
        {"type": "json_schema"},
        {"type": "json_schema", "json_schema": {"name": "x"}},
    ):
        r = httpx.post(live.url + "/v1/chat/completions", json={**ask, "response_format": rf}, headers=h)
        assert r.status_code == 400, (rf, r.text)
    r = httpx.post(live.url + "/api/chat", json={**ask, "format": "yaml"}, headers=h)
    assert r.status_code == 400 and "format" in r.json()["error"]
