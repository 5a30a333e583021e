from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from flynn_desktop.config import Config
from flynn_desktop.gateway.server import GatewayServer
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_servers import FakeServer


@dataclass
class Live:
    runtime: object
    gateway: GatewayServer
    url: str
    token: str
    fake: FakeProvider | None


@pytest.fixture
def live(make_runtime, request) -> Iterator[Live]:  # type: ignore[no-untyped-def]
    """A Runtime with its gateway on 127.0.0.1 (a free port); the fake model unless marked `model`."""
    extra = getattr(request, "param", {}) or {}
    cfg = Config.model_validate({"gateway": {"port": 0, **extra}})
    real = request.node.get_closest_marker("model") is not None
    fake = None if real else FakeProvider()
    rt = make_runtime(fake, config=cfg)
    gw = GatewayServer(rt, tick=0.2)
    rt.submit(gw.start()).result()
    yield Live(rt, gw, gw.url, gw.tokens.get(), fake)
    rt.submit(gw.stop()).result()  # a second stop (after a test stopped it) is harmless


@pytest.fixture
def cloud_gateway(make_runtime) -> Iterator[tuple[str, str, FakeServer]]:  # type: ignore[no-untyped-def]
    """A gateway whose `cloudy:` models are a server on 127.0.0.1 speaking OpenAI's wire format (they
    take tools); its url, token, and the server."""
    cloud = FakeServer("openai")
    cfg = Config.model_validate(
        {
            "gateway": {"port": 0},
            "models": {
                "providers": {"cloudy": {"baseUrl": cloud.url + "/v1"}},
                "router": {"retry": {"maxAttempts": 1}},
            },
        }
    )
    rt = make_runtime(FakeProvider(), config=cfg)
    gw = GatewayServer(rt)
    rt.submit(gw.start()).result()
    try:
        yield gw.url, gw.tokens.get(), cloud
    finally:
        rt.submit(gw.stop()).result()
        cloud.close()
