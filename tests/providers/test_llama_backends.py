"""Choosing llama.cpp's CPU kernels in a portable build (the installers'): ggml's ranking, then a test
of the best in a process of its own, remembered per computer. The real kernels run in
tests/test_installer.py (the bundle); here the ranking is given and the test's process is real."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from flynn_desktop.errors import ModelError
from flynn_desktop.providers import llama_backends
from flynn_desktop.providers.llama_backends import CpuKernels, variant_files


def kernels(folder: Path, *families: str) -> list[Path]:
    files = []
    for i, family in enumerate(families):
        f = folder / f"libggml-cpu-{family}.so"
        f.write_bytes(b"\0" * (100 + i))
        files.append(f)
    return files


def test_a_portable_builds_kernel_files_are_told_from_llama_cpps_other_libraries(tmp_path: Path) -> None:
    for name in (
        "libggml-cpu-haswell.so",
        "ggml-cpu-zen4.dll",
        "libggml-cpu-x64.dylib",
        "libggml-cpu.so",
        "libggml-base.so",
        "libggml.so.0",
        "libllama.so",
        "libggml-cpu-haswell.a",
    ):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in variant_files(tmp_path)] == [
        "ggml-cpu-zen4.dll",
        "libggml-cpu-haswell.so",
        "libggml-cpu-x64.dylib",
    ]


def test_the_best_kernels_that_pass_their_test_are_chosen_and_the_verdict_is_kept(
    tmp_path: Path,
    paths,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    x64, haswell, amx = kernels(tmp_path, "x64", "haswell", "sapphirerapids")
    monkeypatch.setattr(llama_backends, "_scores", lambda files: [(1, x64), (90, amx), (50, haswell)])
    tried: list[str] = []

    def test_run(path: Path) -> bool:  # the AMX kernels crash here, as in some virtual machines
        tried.append(path.name)
        return path is not amx

    monkeypatch.setattr(llama_backends, "_tried", test_run)
    assert llama_backends._choose([x64, haswell, amx]) == (haswell, ("sapphirerapids",))
    assert tried == [amx.name, haswell.name]  # best first; the rest never tried
    verdicts = json.loads((paths.cache_dir / "cpu-kernels.json").read_text())
    assert sorted(verdicts.values()) == [False, True]
    tried.clear()
    assert llama_backends._choose([x64, haswell, amx]) == (haswell, ("sapphirerapids",))
    assert tried == []  # once per computer
    amx.write_bytes(b"\0" * 5000)  # other kernels (a new Flynn): tried anew
    llama_backends._choose([x64, haswell, amx])
    assert tried == [amx.name]
    assert (
        "'sapphirerapids' failed a test on this CPU"
        in CpuKernels(True, "haswell", ("AVX2",), ("sapphirerapids",)).describe()
    )


def test_a_cpu_that_no_kernel_fits_gets_a_clear_error(
    tmp_path: Path, paths, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    x64, haswell = kernels(tmp_path, "x64", "haswell")
    monkeypatch.setattr(llama_backends, "_scores", lambda files: [(0, x64), (0, haswell)])
    with pytest.raises(ModelError) as e:
        llama_backends._choose([x64, haswell])
    assert "can't run any of llama.cpp's CPU kernels" in e.value.message
    assert "Ollama or a cloud tier" in (e.value.hint or "")
    monkeypatch.setattr(llama_backends, "_scores", lambda files: [(1, x64), (5, haswell)])
    monkeypatch.setattr(llama_backends, "_tried", lambda path: False)  # ranked, but every one crashes
    with pytest.raises(ModelError, match=r"can.t run any of llama\.cpp.s CPU kernels"):
        llama_backends._choose([x64, haswell])


@pytest.mark.model
def test_the_kernels_test_runs_in_a_process_of_its_own_and_only_a_crash_fails_it(
    tmp_path: Path,
    paths,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    (kernel,) = kernels(tmp_path, "haswell")
    seen = tmp_path / "argv.json"
    monkeypatch.setattr(
        llama_backends, "_TRY", f"import json, sys; json.dump(sys.argv[1:], open({str(seen)!r}, 'w'))"
    )
    assert llama_backends._tried(kernel)
    path, model = json.loads(seen.read_text())
    assert path == str(kernel) and model.endswith(".gguf")  # the kernel file and the bundled model
    monkeypatch.setattr(llama_backends, "_TRY", f"import os; os.kill(os.getpid(), {int(signal.SIGILL)})")
    assert not llama_backends._tried(kernel)  # an illegal instruction: these kernels can't run here
    monkeypatch.setattr(llama_backends, "_TRY", "raise SystemExit(1)")
    assert llama_backends._tried(kernel)  # the test itself couldn't run: ggml's ranking stands
