"""A Flynn process for the crash test: one finished turn, then an answer that stops halfway and waits.

It prints `READY <session_id>` once the half answer is committed, then waits to be killed with -9.
"""

from __future__ import annotations

import sys
import threading
import time

from flynn_desktop.config import Config
from flynn_desktop.core.events import Delta, Event, RunFinished
from flynn_desktop.paths import Paths
from flynn_desktop.runtime import Runtime
from flynn_desktop.runtime.instance import InstanceLock
from flynn_desktop.sessions import SQLSessionStore
from tests.helpers.fake_provider import FakeProvider


def main() -> None:
    paths = Paths.from_env()
    lock = InstanceLock(paths)
    assert lock.try_acquire()
    fake = FakeProvider(replies=["Half ", "an ", "answer ", "never ", "finished."])
    config = Config()
    rt = Runtime(config, paths, providers={config.models.router.tiers["default"]: fake})
    rt.start()
    first = rt.submit(rt.chat.ask("First question", source="cli")).result()
    assert first.status.value == "complete"
    fake.gate_after = 3
    deltas = threading.Event()
    count = [0]

    def on(ev: Event) -> None:
        if isinstance(ev, Delta):
            count[0] += 1
            if count[0] == 3:
                deltas.set()
        assert not isinstance(ev, RunFinished)

    rt.subscribe(on)
    rt.submit(rt.chat.send("Second question", first.session_id))
    deltas.wait()
    # The model now stalls; the agent saves what streamed within its flush interval. Wait for that
    # on disk, through a connection of our own, before saying we are ready to be killed.
    probe = SQLSessionStore(paths.sessions_db)
    while probe.messages(first.session_id)[-1].content != "Half an answer ":
        time.sleep(0.01)
    print(f"READY {first.session_id}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
