from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# No test reaches the real Hugging Face Hub: hf:// references go to a closed port on this computer
# unless a test points HF_ENDPOINT at its own loopback server.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"

ROOT = Path(__file__).resolve().parents[1]
FLYNN = str(Path(sys.executable).with_name("flynn"))


@pytest.fixture
def flynn_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FLYNN_HOME", str(home))
    monkeypatch.delenv("FLYNN_CONFIG", raising=False)
    return home


@pytest.fixture
def paths(flynn_home: Path):  # type: ignore[no-untyped-def]
    from flynn_desktop.paths import Paths

    p = Paths.from_env()
    p.ensure()
    return p


@pytest.fixture
def make_runtime(paths):  # type: ignore[no-untyped-def]
    """Build and start Runtimes; all are stopped at the end of the test."""
    from flynn_desktop.config import Config
    from flynn_desktop.runtime import Runtime

    started: list[Runtime] = []

    def make(provider=None, config: Config | None = None, **kw):  # type: ignore[no-untyped-def]
        cfg = config or Config()
        providers = {cfg.models.router.tiers["default"]: provider} if provider is not None else None
        kw.setdefault("providers", providers)
        rt = Runtime(cfg, paths, **kw)
        rt.start()
        started.append(rt)
        return rt

    yield make
    for rt in started:
        rt.stop()


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["FLYNN_HOME"] = str(home)
    env.pop("FLYNN_CONFIG", None)
    env.update(extra)
    return env


@pytest.fixture
def clean_env(flynn_home: Path) -> Iterator[dict[str, str]]:
    yield cli_env(flynn_home)


@pytest.fixture(scope="session")
def postgres():  # type: ignore[no-untyped-def]
    """A PostgreSQL server on 127.0.0.1 for the whole run (tests/helpers/postgres.py)."""
    from tests.helpers.postgres import Postgres

    server = Postgres()
    yield server
    server.stop()
