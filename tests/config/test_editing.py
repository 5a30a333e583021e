"""Writing settings back: comments, order and untouched keys kept; a bad value refused, naming the key,
with the file left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from flynn_desktop.config.editing import save_settings
from flynn_desktop.errors import ConfigError

COMMENTED = """\
# Flynn, my way
models:
  # the tiers I use
  router:
    auto: false   # keep it simple
  providers:
    openai:
      apiKey: ${OPENAI_KEY}  # from the environment

agents:
  default:
    temperature: 0.2  # low: facts, not poems
    systemPrompt: "Be brief."
"""


def test_comments_and_untouched_keys_survive(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(COMMENTED)
    config = save_settings(
        path,
        {"agents.default.temperature": 0.7, "gateway.port": 18801, "tray.closeToTray": False},
        environ={"OPENAI_KEY": "sk-x"},
    )
    text = path.read_text()
    for kept in (
        "# Flynn, my way",
        "# the tiers I use",
        "auto: false   # keep it simple",
        "apiKey: ${OPENAI_KEY}  # from the environment",
        'systemPrompt: "Be brief."',
    ):
        assert kept in text
    assert "temperature: 0.7  # low: facts, not poems" in text
    assert config.agent.temperature == 0.7 and config.gateway.port == 18801 and not config.tray.close_to_tray
    assert config.agent.system_prompt == "Be brief."


def test_a_bad_value_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(COMMENTED)
    with pytest.raises(ConfigError) as e:
        save_settings(path, {"gateway.port": 70000}, environ={"OPENAI_KEY": "sk-x"})
    assert "gateway.port" in str(e.value)
    assert path.read_text() == COMMENTED


def test_a_missing_file_is_made(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.yaml"
    save_settings(path, {"window.theme": "dark"}, environ={})
    assert path.read_text() == "window:\n  theme: dark\n"
