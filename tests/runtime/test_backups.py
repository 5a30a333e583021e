"""Backup and restore through the Runtime: real SQLite, real Chroma, the real embedding model."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from flynn_desktop.config import Config
from flynn_desktop.core.events import Event, Progress
from flynn_desktop.errors import FlynnError
from flynn_desktop.runtime import Runtime, run_sync
from tests.helpers.fake_provider import FakeProvider

QUIET = {
    "memory": {"extraction": {"enabled": False}},
    "automation": {"heartbeat": {"enabled": False}, "sessionPruner": {"enabled": False}},
}


def state(rt: Runtime) -> dict[str, Any]:
    """What a user would see: every session with its messages, and every memory."""
    sessions = {}
    for s in run_sync(rt, rt.sessions.list):
        _info, messages = run_sync(rt, lambda s=s: rt.sessions.get(s.id))
        sessions[s.id] = [(m.role.value, m.content, m.status.value) for m in messages]
    memories = sorted((m.id, m.text) for m in run_sync(rt, rt.memory.list_memories))
    return {"sessions": sessions, "memories": memories}


def test_a_backup_made_while_an_answer_streams_restores_the_same_data(make_runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    provider = FakeProvider(gate_after=2)
    rt = make_runtime(provider, config=Config.model_validate(QUIET))
    events: list[Event] = []
    rt.subscribe(events.append)
    provider.gate.set()  # the first turns answer whole
    for q in ("What is the capital of France?", "Plan my week"):
        run_sync(rt, lambda q=q: rt.chat.ask(q))
    for note in ("My cat is called Miso.", "The wifi password is on the fridge.", "I was born in Lisbon."):
        run_sync(rt, lambda note=note: rt.memory.add(note))
    provider.gate.clear()
    provider.reached_gate.clear()
    _run, streaming = run_sync(rt, lambda: rt.chat.send("Tell me a long story"))
    assert provider.reached_gate.wait(30)  # an answer is streaming now
    made = run_sync(rt, lambda: rt.backups.make(tmp_path / "b.zip"))
    at_backup = state(rt)
    provider.gate.set()
    assert [p for p in events if isinstance(p, Progress) and p.task == "backup"][-1].fraction == 1.0
    assert made.counts == {"sessions": 3, "messages": 6, "memories": 3}
    assert (
        Path(made.path).stat().st_size == made.size and oct(Path(made.path).stat().st_mode & 0o777) == "0o600"
    )
    assert at_backup["sessions"][streaming][-1][2] == "partial"  # saved as it grows

    # after the backup: a session deleted, a memory forgotten, another added, the answer ended
    run_sync(rt, lambda: rt.chat.ask("One more question"))
    first = next(iter(at_backup["sessions"]))
    run_sync(rt, lambda: rt.sessions.delete(first))
    run_sync(rt, lambda: rt.memory.delete([at_backup["memories"][0][0]]))
    run_sync(rt, lambda: rt.memory.add("The car is blue."))
    assert state(rt) != at_backup

    done = run_sync(rt, lambda: rt.backups.restore(Path(made.path)))
    assert done["restored"] == made.counts
    assert state(rt) == at_backup
    hits = run_sync(rt, lambda: rt.memory.search("what is my cat's name")).hits
    assert hits and "Miso" in hits[0].memory.text  # the vectors came back too
    assert run_sync(rt, lambda: rt.memory.search("car colour", mode="keyword")).hits == []
    before = Path(done["before"])
    assert before.name.startswith("data.before-restore-") and (before / "sessions.db").is_file()
    assert (before / "memory" / "memory.db").is_file()
    # the store goes on working after the swap
    run_sync(rt, lambda: rt.chat.ask("After the restore"))
    assert len(run_sync(rt, rt.sessions.list)) == 4


def _rewrite(src: Path, dest: Path, change: Any) -> Path:
    """A copy of an archive with its members changed by change(name, bytes) -> bytes | None."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for name in zin.namelist():
            data = change(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)
    return dest


def test_a_damaged_or_newer_archive_is_refused_with_the_reason(make_runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(FakeProvider(), config=Config.model_validate(QUIET))
    run_sync(rt, lambda: rt.chat.ask("hello"))
    run_sync(rt, lambda: rt.memory.add("My cat is called Miso."))
    good = Path(run_sync(rt, lambda: rt.backups.make(tmp_path)).path)
    kept = state(rt)

    def flip(name: str, data: bytes) -> bytes:
        return data[:100] + bytes([data[100] ^ 0xFF]) + data[101:] if name == "data/sessions.db" else data

    def newer(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        m = json.loads(data)
        m["schema"]["sessions"] += 1
        m["flynn"] = "9.0.0"
        return json.dumps(m).encode()

    def escape(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        m = json.loads(data)
        m["files"]["../../evil"] = m["files"].pop("data/sessions.db")
        return json.dumps(m).encode()

    cases = {
        "damaged": _rewrite(good, tmp_path / "flipped.zip", flip),
        "newer Flynn (9.0.0)": _rewrite(good, tmp_path / "newer.zip", newer),
        "no manifest": _rewrite(
            good, tmp_path / "bare.zip", lambda n, d: None if n == "manifest.json" else d
        ),
        "don't match its manifest": _rewrite(good, tmp_path / "escape.zip", escape),
        "not a whole Flynn backup": tmp_path / "cut.zip",
        "There is no backup": tmp_path / "nothing.zip",
    }
    (tmp_path / "cut.zip").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for why, archive in cases.items():
        with pytest.raises(FlynnError) as e:
            run_sync(rt, lambda archive=archive: rt.backups.restore(archive))
        assert why in str(e.value), (why, str(e.value))
    assert state(rt) == kept  # nothing was touched
    assert not list(rt.paths.data_dir.parent.glob("data.before-restore-*"))


def test_the_config_travels_without_its_secrets_unless_asked(make_runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rt = make_runtime(FakeProvider(), config=Config.model_validate(QUIET))
    rt.paths.config_file.write_text(
        "models:\n  providers:\n    openai:\n      apiKey: sk-very-secret\n"
        "      baseUrl: https://user:hunter2@example.invalid/v1\n"
    )
    plain = Path(run_sync(rt, lambda: rt.backups.make(tmp_path / "plain.zip")).path)
    text = zipfile.ZipFile(plain).read("config/config.yaml").decode()
    assert "sk-very-secret" not in text and "hunter2" not in text and "apiKey: '***'" in text
    full = run_sync(rt, lambda: rt.backups.make(tmp_path / "full.zip", include_secrets=True))
    assert full.secrets and "sk-very-secret" in zipfile.ZipFile(full.path).read("config/config.yaml").decode()
    rt.paths.config_file.write_text("logging:\n  level: debug\n")
    done = run_sync(rt, lambda: rt.backups.restore(Path(full.path), with_config=True))
    assert "sk-very-secret" in rt.paths.config_file.read_text()
    assert (Path(done["before"]) / "config.yaml").read_text() == "logging:\n  level: debug\n"


def test_scheduled_backups_keep_the_last_n(make_runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate(
        {**QUIET, "automation": {"backup": {"enabled": True, "keep": 2, "folder": str(tmp_path / "bk")}}}
    )
    rt = make_runtime(FakeProvider(), config=cfg)
    run_sync(rt, lambda: rt.chat.ask("hello"))
    made = [run_sync(rt, rt.backups.scheduled)]
    assert run_sync(rt, rt.backups.scheduled) is None  # the last one is fresh: not due
    for _ in range(2):  # pretend the last one is two days old
        record = json.loads(rt.backups._record.read_text())
        record["at"] = "2020-01-01T00:00:00+00:00"
        rt.backups._record.write_text(json.dumps(record))
        made.append(run_sync(rt, rt.backups.scheduled))
    assert all(m is not None for m in made)
    left = sorted(p.name for p in (tmp_path / "bk").iterdir())
    assert len(left) == 2 and Path(made[0].path).name not in left  # type: ignore[union-attr]
    last = rt.backups.last()
    assert last is not None and last.path == made[-1].path  # type: ignore[union-attr]


def test_backup_and_restore_with_sessions_on_postgresql(make_runtime, tmp_path: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    cfg = Config.model_validate({**QUIET, "sessions": {"url": postgres.new_database()}})
    rt = make_runtime(FakeProvider(), config=cfg)
    run_sync(rt, lambda: rt.chat.ask("kept on the server"))
    made = run_sync(rt, lambda: rt.backups.make(tmp_path / "pg.zip"))
    assert made.counts["sessions"] == 1 and made.counts["messages"] == 2
    kept = state(rt)
    run_sync(rt, lambda: rt.chat.ask("made after the backup"))
    assert not rt.paths.sessions_db.exists()  # nothing went to the local file
    run_sync(rt, lambda: rt.backups.restore(Path(made.path)))
    assert state(rt) == kept
