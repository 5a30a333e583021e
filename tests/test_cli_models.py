"""`flynn models list` and `flynn ask` over cloud tiers, against servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from tests.conftest import FLYNN
from tests.helpers.fake_servers import FakeServer, Fault


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, openai_url: str, anthropic_url: str, ollama_url: str) -> Path:
    path.write_text(
        f"""
models:
  providers:
    openai:
      baseUrl: {openai_url}/v1
      apiKey: ${{TEST_OPENAI_KEY}}
      timeoutMs: 3000
    anthropic:
      baseUrl: {anthropic_url}
      apiKey: sk-ant-secret
    ollama:
      host: {ollama_url}
  router:
    tiers:
      default: anthropic:claude-test
      fast: openai:gpt-test
    fallbackChain: [ollama:llama3, local:smollm2-135m]
    retry: {{maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20}}
tools:
  enabled: false  # one request per answer: this is about which model answers
"""
    )
    return path


def test_models_list_shows_reachability(clean_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    oa, an = FakeServer("openai"), FakeServer("anthropic")
    try:
        an.faults.append(Fault(status=401))
        cfg = write_config(tmp_path / "c.yaml", oa.url, an.url, f"http://127.0.0.1:{free_port()}")
        env = dict(clean_env, TEST_OPENAI_KEY="sk-test-secret")
        r = subprocess.run(
            [FLYNN, "--config", str(cfg), "models", "list"], env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        rows = {line.split()[0]: line for line in r.stdout.splitlines()}
        assert "reachable" in rows["openai:gpt-test"] and "[fast]" in rows["openai:gpt-test"]
        assert "UNREACHABLE" in rows["anthropic:claude-test"] and "API key" in rows["anthropic:claude-test"]
        assert "UNREACHABLE" in rows["ollama:llama3"]
        assert "reachable" in rows["local:smollm2-135m"] and "this computer" in rows["local:smollm2-135m"]
        assert "secret" not in r.stdout + r.stderr
        shown = subprocess.run(
            [FLYNN, "--config", str(cfg), "config", "show"], env=env, capture_output=True, text=True
        )
        assert "secret" not in shown.stdout and "apiKey: '***'" in shown.stdout
    finally:
        oa.close()
        an.close()


def test_ask_falls_back_and_records_who_answered(clean_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    oa, an = FakeServer("openai"), FakeServer("anthropic")
    try:
        an.faults += [Fault(status=503), Fault(status=503)]
        cfg = write_config(tmp_path / "c.yaml", oa.url, an.url, f"http://127.0.0.1:{free_port()}")
        env = dict(clean_env, TEST_OPENAI_KEY="sk-test")
        r = subprocess.run(
            [FLYNN, "--config", str(cfg), "ask", "-q", "Hi"], env=env, capture_output=True, text=True
        )
        # anthropic 503 twice, ollama unreachable twice: the local model answers, once
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() and "Hello from the cloud." not in r.stdout
        sid = subprocess.run(
            [FLYNN, "sessions", "list"], env=env, capture_output=True, text=True
        ).stdout.split()[0]
        doc = json.loads(
            subprocess.run(
                [FLYNN, "sessions", "export", sid, "--format", "json"],
                env=env,
                capture_output=True,
                text=True,
            ).stdout
        )
        answer = doc["messages"][-1]
        assert (answer["provider"], answer["model"], answer["remote"]) == ("local", "smollm2-135m", False)
        assert len(an.chat_requests()) == 2
        # an explicit cloud model answers, and is recorded as such
        r = subprocess.run(
            [FLYNN, "--config", str(cfg), "ask", "-q", "--model", "openai:gpt-test", "Hi"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0 and r.stdout.strip() == "Hello from the cloud.", r.stderr
        usage = subprocess.run(
            [FLYNN, "--config", str(cfg), "usage"], env=env, capture_output=True, text=True
        ).stdout
        counts, latency, load = usage.split("\n\n")[:3]  # three tables: counts, latency, load
        rows = {line.split()[0]: line.split() for line in counts.splitlines()[1:]}
        assert rows["all"][1:3] == ["2", "2"]  # over every model: answers, errors
        assert latency.startswith("latency ms") and "p99" in latency and load.startswith("load")
        assert rows["anthropic:claude-test"][1:4] == ["local", "0", "1"]  # 127.0.0.1 is this computer
        assert rows["ollama:llama3"][2:4] == ["0", "1"]
        assert rows["local:smollm2-135m"][2:4] == ["1", "0"]
        assert rows["openai:gpt-test"][2:6] == ["1", "0", "11", "4"]
    finally:
        oa.close()
        an.close()
