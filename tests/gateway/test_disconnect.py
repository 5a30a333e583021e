"""A client that goes away mid-answer (an editor cancelling a completion): the model stops, the
partial answer is saved as partial, and the next request is served."""

from __future__ import annotations

import time

import httpx
import pytest

from flynn_desktop.core.messages import MessageStatus
from tests.gateway.conftest import Live

PATHS = {"openai": "/v1/chat/completions", "ollama": "/api/chat"}


def wait_for(check, what: str, deadline: float = 60.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if result := check():
            return result
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.parametrize("dialect", sorted(PATHS))
def test_a_client_that_leaves_stops_the_answer_and_it_is_saved(live: Live, dialect: str) -> None:
    assert live.fake is not None
    live.fake.gate_after = 1  # the answer stalls after its first piece until the gate opens
    path = PATHS[dialect]
    body = {"model": "flynn", "stream": True, "messages": [{"role": "user", "content": "Tell me a story"}]}
    headers = {"Authorization": f"Bearer {live.token}"}
    with httpx.Client(base_url=live.url, headers=headers, timeout=60) as http:
        with http.stream("POST", path, json=body) as r:
            assert r.status_code == 200
            assert any("Hello" in line for line in r.iter_lines())  # the first piece arrived
            assert live.fake.reached_gate.wait(30)
        # the response is closed here: the client has gone away

        store = live.runtime.store  # type: ignore[attr-defined]
        session = wait_for(lambda: store.list_sessions(), "the session")[0]
        answer = wait_for(
            lambda: next((m for m in store.messages(session.id)[1:] if m.tokens_out is not None), None),
            "the answer to be closed",
        )
        assert answer.status == MessageStatus.PARTIAL and answer.content == "Hello "
        assert not live.fake.gate.is_set()  # it stopped because the client left, not because it finished

        live.fake.gate_after = None  # and the model is free for the next request
        r2 = http.post(path, json={**body, "stream": False})
        assert r2.status_code == 200 and "Hello from the fake." in r2.text
