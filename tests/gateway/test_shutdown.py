"""Stopping the gateway while an answer streams: the answer is cut, and saved as partial."""

from __future__ import annotations

import threading

import httpx

from tests.gateway.conftest import Live


def test_shutdown_saves_what_is_in_flight(live: Live) -> None:
    assert live.fake is not None
    live.fake.gate_after = 2  # the answer stalls after two pieces and would never finish
    seen: list[str] = []
    done = threading.Event()

    def client() -> None:
        body = {"model": "flynn", "messages": [{"role": "user", "content": "Long story"}], "stream": True}
        try:
            with httpx.stream(
                "POST",
                live.url + "/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {live.token}"},
                timeout=60,
            ) as r:
                for line in r.iter_lines():
                    seen.append(line)
        except httpx.HTTPError:
            pass  # the server went away mid-stream: expected
        finally:
            done.set()

    t = threading.Thread(target=client)
    t.start()
    assert live.fake.reached_gate.wait(30)
    live.runtime.submit(live.gateway.stop()).result(timeout=60)  # type: ignore[attr-defined]
    assert done.wait(60)
    t.join()
    sessions = live.runtime.store.list_sessions()  # type: ignore[attr-defined]
    answer = live.runtime.store.messages(sessions[0].id)[-1]  # type: ignore[attr-defined]
    assert answer.status.value == "partial" and answer.content == "Hello from "
    assert any("Hello" in line for line in seen)
