"""`flynn memory ...`, on its own and through a running Flynn; the real model answers from memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import flynn, start_serve


def docs_folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ferry.md").write_text("# Ferry\n\nThe harbour ferry leaves at 08:15 on weekdays.\n")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    return docs


def test_memory_commands(clean_env: dict[str, str], tmp_path: Path) -> None:
    r = flynn(clean_env, "memory", "add", "My sister's name is Alba.")
    assert r.returncode == 0 and "remembered as m-" in r.stderr
    mid = r.stderr.split("remembered as ")[1].split()[0]
    assert "merged into " + mid in flynn(clean_env, "memory", "add", "my sister's name is alba").stderr
    r = flynn(clean_env, "memory", "search", "what's", "my", "sister", "called?")
    assert r.returncode == 0 and mid in r.stdout and "Alba" in r.stdout
    assert "Nothing found." in flynn(clean_env, "memory", "search", "capital of France").stdout

    docs = docs_folder(tmp_path)
    r = flynn(clean_env, "memory", "import", str(docs))
    assert r.returncode == 0
    assert "skipped " + str(docs / "broken.pdf") in r.stderr and "not a readable PDF" in r.stderr
    assert "indexed 1 file(s) into 1 chunks; 0 unchanged, 1 skipped, 0 removed" in r.stderr
    assert str(docs / "ferry.md") in flynn(clean_env, "memory", "sources").stdout
    assert f"    1 files      1 chunks  {docs}" in flynn(clean_env, "memory", "folders").stdout
    assert "08:15" in flynn(clean_env, "memory", "search", "--mode", "keyword", "ferry").stdout

    assert "📌" not in flynn(clean_env, "memory", "list").stdout
    assert " * " in flynn(clean_env, "memory", "pin", mid[:6]).stdout
    assert "forgot 1 memory from" in flynn(clean_env, "memory", "forget", str(docs / "ferry.md")).stderr
    assert "indexed 1 memories" in flynn(clean_env, "memory", "reindex").stderr
    assert "memories: 1" in flynn(clean_env, "memory", "stats").stdout
    assert "forgot 1 memory" in flynn(clean_env, "memory", "delete", mid).stderr
    assert "Nothing remembered yet." in flynn(clean_env, "memory", "list").stdout
    r = flynn(clean_env, "memory", "delete", "m-nope")
    assert r.returncode == 1 and "No memory m-nope" in r.stderr
    r = flynn(clean_env, "memory", "import", str(tmp_path / "missing"))
    assert r.returncode == 1 and "does not exist" in r.stderr


@pytest.mark.model
def test_through_a_running_flynn_and_into_the_real_models_answer(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gateway:\n  enabled: false\n")
    serve, _ready = start_serve(clean_env, cfg)
    try:
        r = flynn(clean_env, "memory", "import", str(docs_folder(tmp_path)))  # through the control socket
        assert r.returncode == 0 and "memory.import" in r.stderr and "indexed 1 file(s)" in r.stderr
        r = flynn(clean_env, "ask", "-q", "Remember that my sister's name is Alba.")
        assert r.returncode == 0, r.stderr
        r = flynn(clean_env, "ask", "-q", "--new", "What's my sister called?")
        assert r.returncode == 0 and "Alba" in r.stdout, r.stdout + r.stderr
    finally:
        serve.terminate()
        assert serve.wait(60) == 0
