"""The real tray under Xvfb with a real tray host (trayer, which scripts/setup.sh --dev installs):
`flynn --background` embeds its icon and maps no window, a second `flynn` maps the window, and `flynn
quit` ends it with exit 0 while an answer is in flight (a cloud on 127.0.0.1 that stalls mid-answer),
the answer saved as partial."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from flynn_desktop.sessions import SQLSessionStore
from tests.conftest import FLYNN
from tests.helpers.fake_servers import FakeServer, Fault
from tests.helpers.xscreen import icon_embedded, window_mapped

DISPLAY = os.environ.get("FLYNN_TEST_DISPLAY")
pytestmark = [
    pytest.mark.skipif(not DISPLAY, reason="needs Xvfb: run through scripts/test.sh"),
    pytest.mark.slow,
]


def until(predicate, what: str, proc: subprocess.Popen[str] | None = None) -> None:  # type: ignore[no-untyped-def]
    # Waits for the app's own signal (an X window, a socket); the bound only stops a hung test.
    deadline = time.monotonic() + 240
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"flynn exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"never got to {what}")
        time.sleep(0.1)


def listening(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_background_tray_show_and_quit_with_an_answer_in_flight(clean_env, paths, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert shutil.which("trayer"), "trayer is missing: scripts/setup.sh --dev installs it"
    env = dict(clean_env, DISPLAY=str(DISPLAY))
    tray_host = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cloud = FakeServer("openai")
    cloud.faults.append(Fault(stall_after=2))  # "Hello", " from", then nothing more
    port = free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"gateway:\n  port: {port}\nmodels:\n  providers:\n    cloudy:\n      baseUrl: {cloud.url}/v1\n"
        "memory:\n  extraction:\n    enabled: false\n"
    )
    flynn = subprocess.Popen([FLYNN, "--config", str(cfg), "--background"], env=env, text=True)
    try:
        until(paths.instance_socket.exists, "its control socket", flynn)
        until(lambda: icon_embedded(str(DISPLAY)), "its icon in the tray", flynn)
        assert not window_mapped(str(DISPLAY))  # --background: the tray only
        second = subprocess.run(
            [FLYNN, "--config", str(cfg)], env=env, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 0 and "its window is shown" in second.stderr
        until(lambda: window_mapped(str(DISPLAY)), "the window shown", flynn)
        # The gateway starts after the window and the session store (it answers /health once up).
        until(lambda: listening(port), "the gateway listening", flynn)

        token = (paths.data_dir / "gateway.token").read_text().strip()
        got: list[str] = []
        arrived = threading.Event()

        def ask() -> None:
            body = {
                "model": "cloudy:gpt-test",
                "stream": True,
                "messages": [{"role": "user", "content": "Hi"}],
            }
            try:
                with httpx.stream(
                    "POST",
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=120,
                ) as r:
                    for line in r.iter_lines():
                        if '"content"' in line:
                            got.append(line)
                            if len(got) == 2:
                                arrived.set()
            except httpx.HTTPError:
                pass  # the gateway ends the stream as Flynn quits

        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        assert arrived.wait(120), "the answer never started"
        quit_ = subprocess.run([FLYNN, "quit"], env=env, capture_output=True, text=True, timeout=180)
        assert quit_.returncode == 0 and "has quit" in quit_.stderr, quit_.stderr
        assert flynn.wait(60) == 0
        asker.join(60)
    finally:
        if flynn.poll() is None:
            flynn.kill()
        tray_host.terminate()
        tray_host.wait(30)
        cloud.close()
    store = SQLSessionStore(paths.sessions_db)
    [session] = [s for s in store.list_sessions() if s.source.startswith("gateway")]
    answer = store.messages(session.id)[-1]
    assert answer.status.value == "partial" and answer.content == "Hello from"
    store.close()
