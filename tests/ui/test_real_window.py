"""The real `flynn` window on a real X display (Xvfb), as a user starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.conftest import FLYNN

DISPLAY = os.environ.get("FLYNN_TEST_DISPLAY")
if not DISPLAY and os.environ.get("CI"):
    raise RuntimeError("CI must run the tests under scripts/test.sh, which starts Xvfb")
pytestmark = [
    pytest.mark.skipif(not DISPLAY, reason="needs Xvfb: run through scripts/test.sh"),
    pytest.mark.model,
]


def wait_for(predicate, what: str, proc: subprocess.Popen[str]) -> None:  # type: ignore[no-untyped-def]
    # Waits for the app's own signal (its socket, a file); the bound only stops a hung test.
    deadline = time.monotonic() + 240
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(
                f"flynn exited ({proc.returncode}) before {what}: {proc.stderr.read() if proc.stderr else ''}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"flynn never got to {what}")
        time.sleep(0.05)


def test_the_window_opens_hands_over_and_answers(clean_env, paths, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = dict(clean_env, DISPLAY=str(DISPLAY))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gateway:\n  port: 0\n")
    gui = subprocess.Popen([FLYNN, "--config", str(cfg)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(paths.instance_socket.exists, "its control socket", gui)
        second = subprocess.run(
            [FLYNN, "--config", str(cfg)], env=env, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 0 and "already running" in second.stderr
        r = subprocess.run(
            [FLYNN, "ask", "-q", "What is the capital of France?"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0 and "Paris" in r.stdout, r.stderr
        shot = tmp_path / "shot.png"
        subprocess.run(
            ["import", "-display", str(DISPLAY), "-window", "root", str(shot)], check=False, timeout=60
        )
    finally:
        gui.send_signal(signal.SIGTERM)
        rc = gui.wait(60)
    assert rc == 0
    assert (paths.config_dir / "window.ini").exists()  # it saved its size and place on the way out
    assert not paths.instance_socket.exists()


def test_a_damaged_session_store_is_shown_after_the_window_and_flynn_ends(clean_env, paths, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The store opens once the window is up (it shows sooner); when it can't, a dialog says why and
    what to do, the terminal too, and Flynn ends with the error's exit code, the file untouched."""
    env = dict(clean_env, DISPLAY=str(DISPLAY))
    paths.ensure()
    damaged = b"not a database " * 300
    paths.sessions_db.write_bytes(damaged)
    gui = subprocess.Popen([FLYNN], env=env, stderr=subprocess.PIPE, text=True)
    try:

        def dialog() -> bool:
            found = subprocess.run(
                ["xdotool", "search", "--name", "Flynn can't start"], env=env, capture_output=True, text=True
            )
            return found.returncode == 0 and bool(found.stdout.strip())

        wait_for(dialog, "the dialog that says the store is damaged", gui)
        window = subprocess.run(["xdotool", "search", "--name", "^Flynn$"], env=env, capture_output=True)
        assert window.stdout.strip()  # the window showed first
        # No window manager under Xvfb: focus the dialog directly, then press Enter (its OK button).
        subprocess.run(
            ["xdotool", "search", "--name", "Flynn can't start", "windowfocus", "--sync", "key", "Return"],
            env=env,
            check=False,
        )
        rc = gui.wait(120)
    finally:
        if gui.poll() is None:
            gui.kill()
    assert rc != 0
    assert gui.stderr is not None
    err = gui.stderr.read()
    assert "is damaged: file is not a database" in err and "restore it from a backup" in err
    assert paths.sessions_db.read_bytes() == damaged
