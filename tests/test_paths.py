from __future__ import annotations

from pathlib import Path

from flynn_desktop.paths import Paths


def test_flynn_home_puts_everything_under_it(tmp_path: Path) -> None:
    p = Paths.from_env({"FLYNN_HOME": str(tmp_path)})
    for d in (p.config_dir, p.data_dir, p.cache_dir, p.log_dir, p.runtime_dir):
        assert d.is_relative_to(tmp_path)
    assert p.sessions_db == tmp_path / "data" / "sessions.db"
    p.ensure()
    assert all(d.is_dir() for d in (p.config_dir, p.data_dir, p.cache_dir, p.log_dir, p.runtime_dir))


def test_platformdirs_without_flynn_home(tmp_path: Path) -> None:
    p = Paths.from_env({})
    assert "flynn-desktop" in str(p.config_dir)
    assert "flynn-desktop" in str(p.data_dir)
    assert p.config_dir != p.data_dir != p.cache_dir
