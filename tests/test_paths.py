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


def test_a_model_file_checked_by_two_threads_at_once_is_hashed_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import threading

    from flynn_desktop.checksums import VerifiedFiles

    model = tmp_path / "m.gguf"
    model.write_bytes(b"weights" * 100_000)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    hashed: list[float] = []
    errors: list[BaseException] = []

    def check() -> None:
        try:
            VerifiedFiles(tmp_path / "cache").verify(
                model, digest, "pkg", lambda p: hashed.append(p.fraction)
            )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and hashed.count(1.0) == 1  # hashed once; the others found the stamp
    assert list((tmp_path / "cache").iterdir()) == [tmp_path / "cache" / "verified-models.json"]
