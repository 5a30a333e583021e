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
