"""Random JSON at every POST endpoint: always a 4xx or a 2xx, never a 5xx, and the server stays up."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.conftest import Live

ENDPOINTS = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/api/chat",
    "/api/generate",
    "/api/show",
    "/api/embed",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "tool", "x"]), "content": json_values}
    ),
    max_size=3,
)
bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "model": st.sampled_from(["flynn", "local:smollm2-135m", "nope:x", ""]) | json_values,
            "messages": messages | json_values,
            "prompt": st.text(max_size=30) | json_values,
            "suffix": st.text(max_size=10) | json_values,
            "input": st.text(max_size=30) | st.lists(st.text(max_size=10), max_size=3) | json_values,
            "stream": st.booleans() | json_values,
            "max_tokens": st.integers(-5, 50) | json_values,
            "temperature": st.floats(-1, 3, allow_nan=False) | json_values,
            "stop": json_values,
            "options": json_values,
            "stream_options": json_values,
        },
    )
    | json_values
)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
def test_random_bodies_never_break_the_server(live: Live, endpoint: str, body: object) -> None:
    r = httpx.post(
        live.url + endpoint, json=body, headers={"Authorization": f"Bearer {live.token}"}, timeout=60
    )
    assert r.status_code < 500, (endpoint, body, r.status_code, r.text[:300])
    assert httpx.get(live.url + "/health").status_code == 200


raw_bodies = (
    st.binary(max_size=200)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(1, 3000).map(lambda n: b'{"messages": ' + b"[" * n + b"]" * n + b"}")
    | st.sampled_from(
        [b'{"messages": [{"role": "user", "content": "\\ud800"}]}', b"\xff\xfe{}", b"null", b""]
    )
)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(endpoint=st.sampled_from(ENDPOINTS), body=raw_bodies)
def test_random_bytes_never_break_the_server(live: Live, endpoint: str, body: bytes) -> None:
    r = httpx.post(
        live.url + endpoint,
        content=body,
        headers={"Authorization": f"Bearer {live.token}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert r.status_code < 500, (endpoint, body[:80], r.status_code, r.text[:300])
