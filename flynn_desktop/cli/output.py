"""How commands print: progress lines for long work."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def progress_line(ev: dict[str, Any]) -> None:
    """A progress bar on a terminal; one line per finished step in a log."""
    frac = float(ev["fraction"])
    if not sys.stderr.isatty():
        if frac >= 1:
            print(f"flynn: {ev['task']} done {ev.get('detail', '')}", file=sys.stderr, flush=True)
        return
    bar = "#" * int(frac * 20)
    end = "\n" if frac >= 1 else ""
    sizes = f"  {ev['completed'] / 1e6:,.0f}/{ev['total'] / 1e6:,.0f} MB" if ev.get("total") else ""
    line = f"\rflynn: {ev['task']:<14} [{bar:<20}] {frac * 100:5.1f}%{sizes}"
    print(line, end=end, file=sys.stderr, flush=True)


def result_with_progress(messages: Iterable[dict[str, Any]]) -> Any:
    """A long call's result (`call_events`), its progress printed as it comes."""
    result: Any = None
    for msg in messages:
        if "result" in msg:
            result = msg["result"]
        elif msg.get("event") == "progress":
            progress_line(msg)
    return result
