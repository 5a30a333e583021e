"""kill -9 in the middle of an answer: nothing before it is lost, the half answer is marked partial."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys

from tests.conftest import FLYNN, ROOT


def test_kill_9_mid_answer_then_restart(flynn_home, clean_env) -> None:  # type: ignore[no-untyped-def]
    env = dict(clean_env, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.crash_child"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line and line[0] == "READY", line
        session_id = line[1]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    # A new process opens the store the crash left behind.
    r = subprocess.run(
        [FLYNN, "sessions", "export", session_id, "--format", "json"],
        env=clean_env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    got = [(m["role"], m["content"], m["status"]) for m in doc["messages"]]
    assert got == [
        ("user", "First question", "complete"),
        ("assistant", "Half an answer never finished.", "complete"),
        ("user", "Second question", "complete"),
        ("assistant", "Half an answer ", "partial"),
    ]
    shown = subprocess.run(
        [FLYNN, "sessions", "show", session_id], env=clean_env, capture_output=True, text=True
    )
    assert "partial answer" in shown.stdout
    with sqlite3.connect(flynn_home / "data" / "sessions.db") as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"

    # And the conversation goes on from there.
    more = subprocess.run(
        [FLYNN, "ask", "--session", session_id, "--quiet", "Third?"],
        env=clean_env,
        capture_output=True,
        text=True,
    )
    assert more.returncode == 0, more.stderr
