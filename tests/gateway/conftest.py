from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

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
def cloud_gateway_with(make_runtime) -> Iterator[Callable[..., tuple[str, str, FakeServer, FakeProvider]]]:  # type: ignore[no-untyped-def]
    """Makes a gateway whose `cloudy:` models are a server on 127.0.0.1 speaking OpenAI's wire format
    (they take tools), the fake model as the local one, and `agents` as agents.default's settings;
    gives its url, token, the server and the fake."""
    made: list[tuple[object, GatewayServer, FakeServer]] = []

    def make(agents: dict[str, Any] | None = None) -> tuple[str, str, FakeServer, FakeProvider]:
        cloud = FakeServer("openai")
        cfg = Config.model_validate(
            {
                "gateway": {"port": 0},
                "models": {
                    "providers": {"cloudy": {"baseUrl": cloud.url + "/v1"}},
                    "router": {"retry": {"maxAttempts": 1}},
                },
                "agents": {"default": agents or {}},
            }
        )
        fake = FakeProvider()
        rt = make_runtime(fake, config=cfg)
        gw = GatewayServer(rt)
        rt.submit(gw.start()).result()
        made.append((rt, gw, cloud))
        return gw.url, gw.tokens.get(), cloud, fake

    yield make
    for rt, gw, cloud in made:
        rt.submit(gw.stop()).result()  # type: ignore[attr-defined]
        cloud.close()


@pytest.fixture
def cloud_gateway(cloud_gateway_with) -> tuple[str, str, FakeServer]:  # type: ignore[no-untyped-def]
    """A gateway whose `cloudy:` models are a server on 127.0.0.1 speaking OpenAI's wire format (they
    take tools); its url, token, and the server."""
    url, token, cloud, _fake = cloud_gateway_with()
    return url, token, cloud
