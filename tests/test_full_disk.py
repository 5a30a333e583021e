"""A full disk: every command returns, says the disk is full (not that a file is damaged), reading
still works, and nothing saved before is lost; once there is room again, Flynn goes on."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flynn_desktop.core.messages import Role
from flynn_desktop.errors import StorageError
from flynn_desktop.sessions import SQLSessionStore
from tests.conftest import FLYNN, cli_env


def flynn(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLYNN, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs (a real full disk: ENOSPC from the kernel, as SQLite sees it on a laptop)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here ({r.stderr.decode().strip()}); the in-process test covers it")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:
        while True:
            f.write(b"\0" * (1 << 16))
            f.flush()
    return filler


@pytest.mark.model
@pytest.mark.slow
def test_a_full_disk_gets_a_clear_answer_and_loses_nothing(small_disk: Path) -> None:
    env = cli_env(small_disk / "home")
    first = flynn(env, "ask", "--new", "What is the capital of France?")
    assert first.returncode == 0, first.stderr
    noted = flynn(env, "memory", "add", "The blue binder holds the launch code 4417.")
    assert noted.returncode == 0, noted.stderr
    token = flynn(env, "token").stdout.strip()
    filler = fill(small_disk)

    asked = flynn(env, "ask", "And of Spain?")  # returns; says why
    assert asked.returncode == 1 and "the disk is full" in asked.stderr, asked.stderr
    assert "Traceback" not in asked.stderr and "damaged" not in asked.stderr
    listed = flynn(env, "sessions", "list")  # reading works on a full disk
    assert listed.returncode == 0 and "What is the capital of France?" in listed.stdout, listed.stderr
    for args in (["usage"], ["sessions", "show", listed.stdout.split()[0]]):
        r = flynn(env, *args)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr)
    found = flynn(env, "memory", "search", "binder launch code")  # what is remembered can be found
    assert found.returncode == 0 and "4417" in found.stdout and "Traceback" not in found.stderr, found.stderr
    refused = flynn(env, "memory", "add", "Another note.")
    assert refused.returncode == 1 and "the disk is full" in refused.stderr, refused.stderr
    rotated = flynn(env, "token", "--rotate")
    assert (
        rotated.returncode == 1 and "the disk is full" in rotated.stderr and "Traceback" not in rotated.stderr
    )
    assert flynn(env, "token").stdout.strip() == token  # the old token still holds

    filler.unlink()
    again = flynn(env, "ask", "And of Spain?")
    assert again.returncode == 0, again.stderr
    db = small_disk / "home" / "data" / "sessions.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        questions = [
            r[0] for r in conn.execute("SELECT content FROM messages WHERE role = 'user' ORDER BY id")
        ]
    assert questions[0] == "What is the capital of France?" and questions[-1] == "And of Spain?"


def test_the_store_says_full_when_sqlite_cant_grow(tmp_path: Path) -> None:
    """The same, in process, with SQLite's own page limit standing in for the disk."""
    from sqlalchemy import event

    store = SQLSessionStore(tmp_path / "s.db")
    sid = store.create_session("kept").id
    store.append_message(sid, Role.USER, "saved before the disk filled")
    pages = store.engine.connect().exec_driver_sql("PRAGMA page_count").scalar()
    store.engine.dispose()
    event.listen(store.engine, "connect", lambda c, _r: c.execute(f"PRAGMA max_page_count = {pages}"))
    with pytest.raises(StorageError) as e:
        for _ in range(200):
            store.append_message(sid, Role.USER, "x" * 4000)
    assert "the disk is full" in str(e.value) and "damaged" not in str(e.value)
    assert store.messages(sid)[0].content == "saved before the disk filled"  # reading still works
    store.close()


def test_folders_and_files_are_private(paths) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat

    from flynn_desktop.logging_setup import setup_logging

    SQLSessionStore(paths.sessions_db).close()
    setup_logging(paths.log_dir)
    for d in (paths.data_dir, paths.config_dir, paths.cache_dir, paths.log_dir, paths.runtime_dir):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    for f in (paths.sessions_db, paths.log_dir / "flynn.log"):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    # a folder an older Flynn made world-readable is closed on the next start
    paths.data_dir.chmod(0o755)
    paths.ensure()
    assert stat.S_IMODE(os.stat(paths.data_dir).st_mode) == 0o700
