"""How Flynn starts and stops, written once for every way it runs (the window, `flynn serve`, and
the CLI commands that find no running Flynn).

Start: the instance lock -> the Runtime (stores, loop thread) -> the control socket -> the gateway ->
automation (pruner, heartbeat; for a Flynn that stays) -> the face. The window starts its gateway and
automation itself, right after its first paint (`Host.start_services`), so it shows sooner. Stop: the
reverse, each step even when an earlier one failed. A process that can't take the lock hosts nothing:
another Flynn holds the stores, and the caller talks to it over its socket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flynn_desktop.config import Config
from flynn_desktop.core.events import GatewayState
from flynn_desktop.errors import FlynnError
from flynn_desktop.paths import Paths
from flynn_desktop.runtime import Runtime
from flynn_desktop.runtime.instance import ControlServer, InstanceLock

if TYPE_CHECKING:  # imported when the gateway starts: the window shows before FastAPI is loaded
    from flynn_desktop.gateway.server import GatewayServer

log = logging.getLogger(__name__)


@dataclass
class Host:
    runtime: Runtime
    control: ControlServer
    gateway: GatewayServer | None = None
    gateway_error: str | None = None

    def open_control(
        self, on_show: Callable[[], bool] | None = None, on_quit: Callable[[], bool] | None = None
    ) -> None:
        """Open the control socket. The window opens it once it can be shown, so a second `flynn`
        that finds it can always hand over; `on_quit` is how `flynn quit` ends this Flynn."""
        self.control.on_show = on_show
        if on_quit is not None:
            self.control.on_quit = on_quit
        if not self.control.started:
            self.runtime.submit(self.control.start()).result()

    async def pause_gateway(self) -> None:
        """Stop listening (editor plugins get "connection refused") until resume_gateway."""
        if self.gateway is not None:
            await self.gateway.stop()
        self.runtime.emit(GatewayState("paused", detail="paused from the tray"))

    async def resume_gateway(self) -> None:
        from flynn_desktop.gateway.server import GatewayServer

        gateway = self.gateway or GatewayServer(self.runtime)
        if gateway.port:  # the same port again, even when gateway.port is 0
            gateway.cfg = gateway.cfg.model_copy(update={"port": gateway.port})
        await gateway.start()
        self.gateway = gateway

    def start_services(self) -> None:
        """The gateway, then automation (whose first heartbeat sees the gateway's real state): for a
        window, once it is shown (from any thread)."""
        self.start_gateway()
        self.runtime.start_automation()

    def start_gateway(self) -> None:
        """Start the gateway if gateway.enabled. If it can't start, Flynn works on and says why."""
        if not self.runtime.config.gateway.enabled:
            self.runtime.emit(GatewayState("off", detail="gateway.enabled is false"))
            return
        from flynn_desktop.gateway.server import GatewayServer

        gateway = GatewayServer(self.runtime)
        try:
            self.runtime.submit(gateway.start()).result()
        except FlynnError as e:
            self.gateway_error = str(e)
            log.info("the gateway did not start: %s", e)  # the face says it (status bar, serve's exit)
            return
        self.gateway = gateway


@contextmanager
def hosted(
    config: Config,
    paths: Paths,
    gateway: bool = False,
    control: bool = True,
    automation: bool = False,
    defer_store: bool = False,
    config_path: Path | None = None,
) -> Iterator[Host | None]:
    """Host the Runtime in this process, or yield None when another Flynn already does. A Flynn that
    stays (the window, `flynn serve`) runs `automation` (the pruner, the heartbeat) once its gateway
    is up; a one-shot command does not pay for it. With `defer_store` (the window) the caller opens
    the session store (`runtime.open_store()`) once the window is shown."""
    lock = InstanceLock(paths)
    if not lock.try_acquire():
        yield None
        return
    try:
        runtime = Runtime(config, paths, config_path=config_path)
        runtime.start(defer_store)
        host = Host(runtime, ControlServer(runtime))
        try:
            if control:
                host.open_control()
            if gateway:
                host.start_gateway()
            if automation:
                runtime.start_automation()
            yield host
        finally:
            try:
                if host.gateway is not None:
                    runtime.submit(host.gateway.stop()).result()
                runtime.submit(host.control.close()).result()  # a socket never opened: nothing to do
            finally:
                runtime.stop()
    finally:
        lock.release()
