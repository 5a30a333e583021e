from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flynn_desktop.config import Config, default_config_text, load_config, redacted
from flynn_desktop.config.loader import parse_config
from flynn_desktop.errors import ConfigError
from tests.conftest import FLYNN


def test_default_file_is_the_schema_defaults() -> None:
    assert parse_config(default_config_text(), "default.yaml", {}) == Config()


def test_missing_or_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "nope.yaml") == Config()
    (tmp_path / "empty.yaml").write_text("")
    assert load_config(tmp_path / "empty.yaml") == Config()


def test_seed_keys_are_read() -> None:
    text = """
models:
  providers:
    openai: {apiKey: sk-x}
  router:
    tiers:
      default: local:smollm2-135m
      fast: ollama:llama3
    tierFallbacks:
      default: [openai:gpt-4o-mini]
    fallbackChain: [local:smollm2-135m]
    retry: {maxAttempts: 5, initialDelayMs: 500, multiplier: 1.5, maxDelayMs: 60000}
agents:
  default:
    compaction: {thresholdPct: 60, keepTurns: 2}
    delegation: {tiers: {compaction: fast}}
prompt: {contextDepth: minimal}
memory: {search: {vectorWeight: 0.4, keywordWeight: 0.6}}
gateway: {port: 18900, laneQueue: {maxDepth: 3}}
"""
    c = parse_config(text, "c.yaml", {})
    assert c.models.router.tiers["fast"] == "ollama:llama3"
    assert c.models.router.tier_fallbacks["default"] == ["openai:gpt-4o-mini"]
    assert c.models.router.retry.max_attempts == 5
    assert c.agent.compaction.keep_turns == 2
    assert c.prompt.context_depth == "minimal"
    assert c.memory.search.keyword_weight == 0.6
    assert c.gateway.lane_queue.max_depth == 3


@pytest.mark.parametrize(
    ("text", "where", "key"),
    [
        ("models:\n  router:\n    tiers:\n      default: nope\n", "c.yaml:4", "models.router.tiers.default"),
        ("models:\n  providrs: {}\n", "c.yaml:2", "models.providrs"),
        ("agents:\n  default:\n\n    maxTokens: lots\n", "c.yaml:4", "agents.default.maxTokens"),
        ("prompt:\n  contextDepth: deep\n", "c.yaml:2", "prompt.contextDepth"),
        (
            "models:\n  router:\n    fallbackChain:\n      - local:x\n      - bad\n",
            "c.yaml:5",
            "fallbackChain.1",
        ),
    ],
)
def test_errors_name_file_line_and_key(text: str, where: str, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(text, "c.yaml", {})
    assert str(e.value).startswith(where + ":"), str(e.value)
    assert key in str(e.value)


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"^c\.yaml:2: this is not valid YAML"):
        parse_config("models:\n\trouter: 1\n", "c.yaml", {})


def test_env_interpolation() -> None:
    text = "agents:\n  default:\n    maxTokens: ${TOK}\n    systemPrompt: 'Hi ${NAME:-there}'\n"
    c = parse_config(text, "c.yaml", {"TOK": "77"})
    assert c.agent.max_tokens == 77
    assert c.agent.system_prompt == "Hi there"
    with pytest.raises(
        ConfigError, match=r"c\.yaml:3: agents\.default\.maxTokens: the environment variable TOK"
    ):
        parse_config(text, "c.yaml", {})


def test_redacted_hides_secrets() -> None:
    c = parse_config("models:\n  providers:\n    anthropic:\n      apiKey: sk-123\n", "c.yaml", {})
    shown = redacted(c)
    assert shown["models"]["providers"]["anthropic"]["apiKey"] == "***"
    assert shown["agents"]["default"]["maxTokens"] == 512
    c = parse_config(
        "models:\n  providers:\n    work:\n      baseUrl: https://bob:hunter2@proxy.example/v1\n",
        "c.yaml",
        {},
    )
    shown = redacted(c)
    assert shown["models"]["providers"]["work"]["baseUrl"] == "https://***@proxy.example/v1"
    assert "hunter2" not in str(shown)


def test_cli_bad_config_exits_2_without_traceback(tmp_path: Path, clean_env: dict[str, str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("logging:\n  level: loud\n")
    r = subprocess.run(
        [FLYNN, "--config", str(bad), "sessions", "list"], env=clean_env, capture_output=True, text=True
    )
    assert r.returncode == 2
    assert f"{bad}:2: logging.level" in r.stderr
    assert "Traceback" not in r.stderr
    env = dict(clean_env, FLYNN_CONFIG=str(bad))
    r = subprocess.run([FLYNN, "config", "show"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and f"{bad}:2" in r.stderr and "Traceback" not in r.stderr


def test_cli_config_init_and_show(flynn_home: Path, clean_env: dict[str, str]) -> None:
    r = subprocess.run([FLYNN, "config", "init"], env=clean_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    written = flynn_home / "config" / "config.yaml"
    assert written.read_text() == default_config_text()
    r = subprocess.run([FLYNN, "config", "init"], env=clean_env, capture_output=True, text=True)
    assert r.returncode == 2 and "--force" in r.stderr
    written.write_text(written.read_text().replace("maxTokens: 512", "maxTokens: 99"))
    r = subprocess.run([FLYNN, "config", "show"], env=clean_env, capture_output=True, text=True)
    assert r.returncode == 0 and "maxTokens: 99" in r.stdout


def test_tiers_follow_the_local_model_unless_set() -> None:
    c = parse_config("models:\n  providers:\n    local:\n      model: /m/x.gguf\n", "c.yaml", {})
    assert set(c.models.router.tiers.values()) == {"local:/m/x.gguf"}
    c = parse_config(
        "models:\n  providers:\n    local:\n      model: /m/x.gguf\n  router:\n    tiers:\n      default: local:/m/y.gguf\n",
        "c.yaml",
        {},
    )
    assert c.models.router.tiers == {"default": "local:/m/y.gguf"}
