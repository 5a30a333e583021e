"""The `flynn` command, run as a user would, with the real bundled model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from flynn_desktop import __version__
from tests.conftest import FLYNN


def flynn(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLYNN, *args], env=env, capture_output=True, text=True, input=input, timeout=300)


@pytest.mark.model
def test_ask_streams_an_answer_and_keeps_the_session(clean_env: dict[str, str]) -> None:
    r = flynn(clean_env, "ask", "What is the capital of France?")
    assert r.returncode == 0, r.stderr
    assert "Paris" in r.stdout
    assert "Traceback" not in r.stderr and "model.load done" in r.stderr
    sid = r.stderr.strip().splitlines()[-1].split()[-1]

    again = flynn(
        clean_env, "ask", "-q", "And what is the capital of Italy?"
    )  # continues the last CLI session
    assert again.returncode == 0 and again.stderr == ""
    new = flynn(clean_env, "ask", "--new", "-q", "Say hello.")
    assert new.returncode == 0

    listed = flynn(clean_env, "sessions", "list")
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 2 and "[cli]" in lines[0]
    assert any(line.startswith(sid) and " 4 msgs" in line for line in lines)
    assert flynn(clean_env, "sessions", "list", "Italy").stdout.startswith(sid)

    doc = json.loads(flynn(clean_env, "sessions", "export", sid[:6], "--format", "json").stdout)
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant", "user", "assistant"]
    a = doc["messages"][1]
    assert a["status"] == "complete" and a["provider"] == "local" and a["model"] == "smollm2-135m"
    assert a["tokens_in"] > 0 and a["tokens_out"] > 0

    piped = flynn(clean_env, "ask", "--session", sid, "-q", input="Thanks!")
    assert piped.returncode == 0 and piped.stdout.strip()


def test_sessions_manage(clean_env: dict[str, str], tmp_path: Path, flynn_home: Path) -> None:
    # A config whose model can't be found: the question is still saved, and the error says what to do.
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"models:\n  providers:\n    local:\n      model: {tmp_path / 'none.gguf'}\n")
    r = flynn(clean_env, "--config", str(cfg), "ask", "hello?")
    assert r.returncode == 1 and "does not exist" in r.stderr and "models.providers.local.model" in r.stderr
    sid = flynn(clean_env, "sessions", "list").stdout.split()[0]
    assert "hello?" in flynn(clean_env, "sessions", "show", sid).stdout
    assert flynn(clean_env, "sessions", "rename", sid, "My", "chat").stdout.strip().endswith("My chat")
    out = tmp_path / "chat.md"
    assert flynn(clean_env, "sessions", "export", sid, "-o", str(out)).returncode == 0
    assert out.read_text().startswith("# My chat")
    assert "pinned" in flynn(clean_env, "sessions", "pin", sid).stdout
    assert "📌" in flynn(clean_env, "sessions", "list").stdout
    assert flynn(clean_env, "sessions", "delete", sid).returncode == 0
    assert "No sessions yet." in flynn(clean_env, "sessions", "list").stdout
    assert sid in flynn(clean_env, "sessions", "trash").stdout
    gone = flynn(clean_env, "sessions", "show", sid)
    assert gone.returncode == 1 and f"flynn sessions restore {sid}" in gone.stderr
    assert flynn(clean_env, "sessions", "restore", sid).returncode == 0
    assert "My chat" in flynn(clean_env, "sessions", "list").stdout
    assert flynn(clean_env, "sessions", "delete", sid).returncode == 0
    assert "1 session(s) deleted for good" in flynn(clean_env, "sessions", "purge").stderr
    assert "The trash is empty." in flynn(clean_env, "sessions", "trash").stdout
    missing = flynn(clean_env, "sessions", "show", "abcdef")
    assert missing.returncode == 1 and "no session 'abcdef'" in missing.stderr


def test_no_display_points_to_ask_and_serve(clean_env: dict[str, str]) -> None:
    r = flynn(clean_env)
    assert r.returncode == 3
    assert "no display" in r.stderr and "flynn ask" in r.stderr and "flynn serve" in r.stderr


def test_token(clean_env: dict[str, str], flynn_home: Path) -> None:
    first = flynn(clean_env, "token").stdout.strip()
    assert len(first) >= 40 and flynn(clean_env, "token").stdout.strip() == first
    rotated = flynn(clean_env, "token", "--rotate")
    assert rotated.stdout.strip() != first and "new token" in rotated.stderr
    assert oct((flynn_home / "data" / "gateway.token").stat().st_mode & 0o777) == "0o600"


def test_version_and_doctor(clean_env: dict[str, str], tmp_path: Path) -> None:
    assert flynn(clean_env, "--version").stdout.strip() == f"flynn {__version__}"
    r = flynn(clean_env, "doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("cpu", "llama.cpp", "model", "embedder", "data folder", "display"):
        assert f"] {name}" in r.stdout
    assert "sha256" in r.stdout and "[note] display" in r.stdout  # no display: reported, not a failure
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models:\n  providers:\n    local:\n      model: nosuchmodel\n")
    bad = flynn(clean_env, "--config", str(cfg), "doctor")  # caught with the config, where it is written
    assert bad.returncode == 2 and "[FAIL] config" in bad.stdout and f"{cfg}:4:" in bad.stdout
    assert "nosuchmodel" in bad.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("logging: [\n")
    assert flynn(clean_env, "--config", str(broken), "doctor").returncode == 2


def start_serve(env: dict[str, str], cfg: Path) -> tuple[subprocess.Popen[str], str]:
    """`flynn serve`, once it says it is ready; and its ready line."""
    serve = subprocess.Popen(
        [FLYNN, "--config", str(cfg), "serve"], env=env, stderr=subprocess.PIPE, text=True
    )
    assert serve.stderr is not None
    for line in serve.stderr:
        if line.startswith("flynn: ready"):
            return serve, line
    serve.kill()
    raise AssertionError("flynn serve did not start")


@pytest.mark.model
def test_a_second_flynn_goes_through_the_first(clean_env: dict[str, str], tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gateway:\n  port: 0\n")
    serve, line = start_serve(clean_env, cfg)
    try:
        url = line.split("gateway ")[1].split()[0]
        token = flynn(clean_env, "token").stdout.strip()
        import openai

        answer = openai.OpenAI(base_url=url + "/v1", api_key=token).chat.completions.create(
            model="flynn",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            temperature=0,
        )
        assert "Paris" in (answer.choices[0].message.content or "")
        r = flynn(clean_env, "ask", "-q", "What is the capital of France?")
        assert r.returncode == 0 and "Paris" in r.stdout, r.stderr
        assert "[cli]" in flynn(clean_env, "sessions", "list").stdout
        second = flynn(clean_env, "--config", str(cfg), "serve")
        assert second.returncode == 1 and "already running" in second.stderr
        gui = flynn(dict(clean_env, QT_QPA_PLATFORM="offscreen"))
        assert gui.returncode == 1 and "has no window" in gui.stderr
    finally:
        serve.terminate()
        assert serve.wait(60) == 0


def test_maintenance_reports_each_file(clean_env: dict[str, str]) -> None:
    assert flynn(clean_env, "ask", "hello").returncode == 0
    out = flynn(clean_env, "maintenance")
    assert out.returncode == 0, out.stderr
    assert "sessions.db:" in out.stdout and "MB ->" in out.stdout


def test_logs_by_level_and_followed(clean_env: dict[str, str], flynn_home: Path) -> None:
    import json

    from flynn_desktop.paths import Paths

    log = Paths.from_env({"FLYNN_HOME": str(flynn_home)}).log_dir / "flynn.log"
    log.parent.mkdir(parents=True, exist_ok=True)

    def record(level: str, message: str) -> str:
        return json.dumps({"time": "2026-12-01T00:00:00", "level": level, "logger": "x", "message": message})

    log.write_text("\n".join([record("info", "an ordinary thing"), record("warning", "a worry")]) + "\n")
    out = flynn(clean_env, "logs", "--level", "warn").stdout
    assert "a worry" in out and "an ordinary thing" not in out
    assert flynn(clean_env, "logs", "-n", "0").stdout == ""
    # the error line is the first one printed whether it lands before -f starts (the last line) or after
    follow = subprocess.Popen(
        [FLYNN, "logs", "-f", "-n", "1", "--level", "error"], env=clean_env, stdout=subprocess.PIPE, text=True
    )
    try:
        with log.open("a") as f:
            f.write(record("error", "it broke just now") + "\n")
        assert follow.stdout is not None
        assert "it broke just now" in follow.stdout.readline()  # waits for the line, however long
    finally:
        follow.terminate()
        follow.wait(timeout=30)


def test_status_runs_the_checks(clean_env: dict[str, str]) -> None:
    out = flynn(clean_env, "status")
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("gateway", "model", "memory", "disk"):
        assert f"ok   {name}" in out.stdout


@pytest.mark.model
def test_backup_and_restore_through_a_running_flynn(clean_env: dict[str, str], tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gateway:\n  port: 0\nmemory:\n  extraction:\n    enabled: false\n")
    serve, _line = start_serve(clean_env, cfg)
    try:
        assert flynn(clean_env, "memory", "add", "My cat is called Miso.").returncode == 0
        made = flynn(clean_env, "backup", "-o", f"{tmp_path}/backups/")
        assert made.returncode == 0, made.stderr
        archive = Path(made.stdout.strip())
        assert archive.parent == tmp_path / "backups" and "1 memories" in made.stderr
        assert flynn(clean_env, "memory", "add", "The car is blue.").returncode == 0
        (tmp_path / "bad.zip").write_bytes(archive.read_bytes()[:-200])
        bad = flynn(clean_env, "restore", str(tmp_path / "bad.zip"))
        assert bad.returncode != 0 and "can't be restored" in bad.stderr
        done = flynn(clean_env, "restore", str(archive))
        assert done.returncode == 0 and "restored 0 sessions, 0 messages, 1 memories" in done.stderr, (
            done.stderr
        )
        listed = flynn(clean_env, "memory", "list").stdout
        assert "Miso" in listed and "car is blue" not in listed
    finally:
        serve.terminate()
        assert serve.wait(60) == 0
    # with no Flynn running, the command hosts the Runtime itself
    assert flynn(clean_env, "memory", "add", "The car is blue.").returncode == 0
    again = flynn(clean_env, "restore", str(archive))
    assert again.returncode == 0, again.stderr
    assert "car is blue" not in flynn(clean_env, "memory", "list").stdout
