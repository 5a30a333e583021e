"""`flynn ask` and Flynn's own tools: --yes lets a call the policy asks about run; with no terminal to
ask on, it is denied and the answer goes on. What ran is said on stderr."""

from __future__ import annotations

import subprocess

from tests.conftest import FLYNN
from tests.helpers.fake_servers import FakeServer


def test_ask_yes_runs_the_tool_and_no_terminal_denies_it(clean_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cloud = FakeServer("openai")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"""
models:
  providers:
    cloudy: {{baseUrl: {cloud.url}/v1}}
  router:
    tiers: {{default: "cloudy:gpt-test"}}
memory:
  extraction: {{enabled: false}}
"""
    )
    try:
        cloud.scripts = [[("memory_add", {"text": "The spare key is under the mat."})], "Noted."]
        yes = subprocess.run(
            [FLYNN, "--config", str(cfg), "ask", "--yes", "Remember the key"],
            env=clean_env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
        assert yes.returncode == 0 and yes.stdout.strip() == "Noted.", yes.stderr
        assert "ran memory_add" in yes.stderr and "--yes" in yes.stderr
        cloud.scripts = [[("memory_add", {"text": "Another."})], "Fine."]
        no = subprocess.run(
            [FLYNN, "--config", str(cfg), "ask", "Remember another"],
            env=clean_env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
        assert no.returncode == 0 and no.stdout.strip() == "Fine.", no.stderr
        assert "tried memory_add" in no.stderr and "denied: no one to ask" in no.stderr
    finally:
        cloud.close()
