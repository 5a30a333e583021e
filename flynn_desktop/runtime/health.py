"""The heartbeat (automation.heartbeat): Flynn checks itself every interval and says what changed.

Checks: `gateway` (listening, or off on purpose; failed is a failure), `model` (the default tier's
model file is there and whole; a remote model is not called), `memory` (the store answers), `disk`
(the data folder has automation.heartbeat.diskMinFreeMb free, so writes don't fail later). Each
check's last result is kept; a change is told as a HealthChanged event and a failure is logged.
`GET /health?detail=1` (with the token), `flynn status` and the window read them.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from flynn_desktop.config import Config
from flynn_desktop.core.events import Event, GatewayState, HealthChanged, HealthCheck
from flynn_desktop.errors import FlynnError
from flynn_desktop.paths import Paths
from flynn_desktop.runtime.memory import RuntimeMemory
from flynn_desktop.runtime.models import Models

log = logging.getLogger(__name__)
Emit = Callable[[Event], None]


class Health:
    def __init__(
        self,
        config: Config,
        paths: Paths,
        emit: Emit,
        models: Models,
        memory: RuntimeMemory,
        gateway_state: Callable[[], GatewayState],
    ) -> None:
        self.config = config
        self.paths = paths
        self.emit = emit
        self.models = models
        self.memory = memory
        self._gateway_state = gateway_state
        self.checks: dict[str, HealthCheck] = {}

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    async def run(self) -> list[HealthCheck]:
        """Run the configured checks now; tell what changed."""
        names = [n for n in self.config.automation.heartbeat.checks if n != "channels"]
        found = [await self._one(name) for name in names]
        changed = [c for c in found if (old := self.checks.get(c.name)) is None or old.ok != c.ok]
        for c in found:
            self.checks[c.name] = c
            if not c.ok:
                log.warning("health check %s failed: %s", c.name, c.detail)
        if changed:
            self.emit(HealthChanged(tuple(found)))
        return found

    async def _one(self, name: str) -> HealthCheck:
        check: Callable[[], Awaitable[str]] = getattr(self, f"_{name}")
        began = time.perf_counter()
        try:
            ok, detail = True, await check()
        except FlynnError as e:
            ok, detail = False, str(e)
        except Exception as e:  # a check must never take the heartbeat down
            ok, detail = False, f"{type(e).__name__}: {e}"
        ms = (time.perf_counter() - began) * 1000
        return HealthCheck(name, ok, detail, datetime.now(UTC).isoformat(timespec="seconds"), round(ms, 1))

    async def _gateway(self) -> str:
        state = self._gateway_state()
        if state.state == "failed":
            raise FlynnError(f"The gateway could not start: {state.detail}", "See `flynn logs`.")
        return state.url if state.state == "listening" else f"off ({state.detail or 'not started'})"

    async def _model(self) -> str:
        return await self.models.provider_for().check_ready()

    async def _memory(self) -> str:
        if not self.memory.enabled:
            return "off (memory.enabled is false)"
        if not self.memory.exists():
            return "nothing remembered yet"
        if not self.memory.opened:  # the heartbeat does not open the stores for itself
            return "not in use yet"
        stats = await self.memory.stats()
        return f"{stats['memories']} memories, {stats['pending']} waiting to be indexed"

    async def _disk(self) -> str:
        need = self.config.automation.heartbeat.disk_min_free_mb
        free = shutil.disk_usage(self.paths.data_dir).free / 1e6
        if free < need:
            raise FlynnError(
                f"Only {free:.0f} MB free where Flynn keeps its data ({self.paths.data_dir}).",
                "Free some disk space before answers and memories can't be saved; "
                "`flynn maintenance` gives back the space of deleted data.",
            )
        return f"{free:.0f} MB free"
