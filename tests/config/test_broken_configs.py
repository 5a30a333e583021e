"""Every broken config a careless edit (or a hostile file) makes: exit 2 from any command, a message
`file:line: key: problem` (or what is wrong with the file itself), never a traceback, never a hang."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FLYNN

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(7)
)
DEEP = "logging: " + "[" * 10_000 + "]" * 10_000 + "\n"

# (name, file text, what the message must say, the line it must name; None: no line applies)
CASES: list[tuple[str, str, str, int | None]] = [
    ("typo in gateway", "gateway:\n  prot: 18801\n", "gateway.prot: unknown key", 2),
    ("typo in memory", "memory:\n  serach:\n    limit: 5\n", "memory.serach: unknown key", 2),
    (
        "typo in embeddings",
        "memory:\n  embeddings:\n    modle: x\n",
        "memory.embeddings.modle: unknown key",
        3,
    ),
    ("typo in tools", "tools:\n  executer: {}\n", "tools.executer: unknown key", 2),
    ("duplicate key", "gateway:\n  port: 1\n  port: 2\n", "given twice (first on line 2)", 3),
    ("unterminated ${", "models:\n  providers:\n    openai:\n      apiKey: ${OPENAI_KEY\n", "not closed", 4),
    (
        "unset ${VAR}",
        "models:\n  providers:\n    openai:\n      apiKey: ${FLYNN_NO_SUCH_VAR}\n",
        "FLYNN_NO_SUCH_VAR",
        4,
    ),
    ("control character", "logging:\n  level: info\x07\n", "not valid YAML", 2),
    ("nesting 10k deep", DEEP, "nested too deeply", None),
    ("alias bomb", ALIAS_BOMB, "aliases", 2),
    (
        "overlap past size",
        "memory:\n  embeddings:\n    chunking:\n      maxChunkSize: 100\n      chunkOverlap: 200\n",
        "chunkOverlap (200) must be smaller than maxChunkSize (100)",
        3,
    ),
    ("unknown embeddings provider", "memory:\n  embeddings:\n    provider: voyage\n", "voyage", 3),
    (
        "unknown delegation tier",
        "agents:\n  default:\n    delegation:\n      tiers:\n        compaction: speedy\n",
        "no tier 'speedy'",
        5,
    ),
    (
        "unknown provider",
        "models:\n  router:\n    tiers:\n      default: nosuch:model\n",
        "no provider 'nosuch'",
        4,
    ),
    (
        "unknown local model",
        "models:\n  router:\n    tiers:\n      default: local:nosuch-model\n",
        "not a bundled model",
        4,
    ),
    ("huge maxTokens", "agents:\n  default:\n    maxTokens: 1e12\n", "agents.default.maxTokens", 3),
    (
        "huge contextLength",
        "models:\n  providers:\n    local:\n      contextLength: 1000000000\n",
        "contextLength",
        4,
    ),
    (
        "threads past the CPU",
        "models:\n  providers:\n    local:\n      threads: 10000\n",
        f"this computer has {os.cpu_count()}",
        4,
    ),
    ("bad duration", "sessions:\n  ttl: soon\n", "not a duration", 2),
    ("not a mapping", "- just\n- a list\n", "must be a mapping", 1),
    ("bad YAML", "logging: [\n", "not valid YAML", None),
    ("wrong type", "gateway:\n  port: eighteen\n", "gateway.port", 2),
    ("open to the network", "gateway:\n  host: 0.0.0.0\n", "allowRemote", 2),
    ("not a finite number", "gateway:\n  port: .nan\n", "finite", 2),
]


def run_show(env: dict[str, str], config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLYNN, "--config", str(config), "config", "show"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("name", "text", "says", "line"), CASES, ids=[c[0] for c in CASES])
def test_a_broken_config_is_named_with_file_line_and_key(
    clean_env: dict[str, str], tmp_path: Path, name: str, text: str, says: str, line: int | None
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text, "utf-8")
    r = run_show(clean_env, config)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and says in r.stderr, r.stderr
    where = f"{config}:{line}:" if line is not None else f"{config}"
    assert f"flynn: {where}" in r.stderr, r.stderr


def test_the_same_config_error_from_every_command(clean_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("gateway:\n  prot: 1\n")
    for args in (
        ["doctor"],
        ["sessions", "list"],
        ["ask", "hi"],
        ["memory", "search", "x"],
        ["usage"],
        ["serve"],
    ):
        r = subprocess.run(
            [FLYNN, "--config", str(config), *args], env=clean_env, capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 2 and f"{config}:2: gateway.prot" in (r.stdout + r.stderr), (args, r.stderr)


def test_a_named_config_that_is_missing_or_not_a_file(clean_env: dict[str, str], tmp_path: Path) -> None:
    r = run_show(clean_env, tmp_path / "nope.yaml")
    assert r.returncode == 2 and "no such config file" in r.stderr
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    r = run_show(clean_env, fifo)  # would block forever if read
    assert r.returncode == 2 and "not a regular file" in r.stderr
    r = run_show({**clean_env, "FLYNN_CONFIG": str(tmp_path / "gone.yaml")}, tmp_path / "gone.yaml")
    assert r.returncode == 2 and "no such config file" in r.stderr
