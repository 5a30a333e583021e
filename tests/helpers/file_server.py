"""A file server on 127.0.0.1 that downloads are tested against: plain files with HTTP Range (206,
Content-Range, 416), and the Hugging Face Hub's resolve URLs (`/<org>/<repo>/resolve/<rev>/<file>`
answered, as the Hub does, with a redirect to the file and its sha256 in X-Linked-Etag). Faults to
inject: a transfer cut after some bytes, a transfer held after some bytes until the test lets it go,
a server that ignores Range."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Seen:
    method: str
    path: str
    range: str | None


@dataclass
class FileServer:
    files: dict[str, Path]  # URL path (/models/x.gguf) -> file
    hub: dict[str, Path] = field(default_factory=dict)  # "org/repo/file" -> file, served as the Hub
    cut_at: list[int] = field(default_factory=list)  # the next GETs end after these many bytes, one each
    hold_at: int | None = None  # a GET stops after this many bytes until `release` is set
    ignore_range: bool = False
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)  # a GET reached hold_at

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                owner._answer(self, body=False)

            def do_GET(self) -> None:
                owner._answer(self, body=True)

        # two ports: the Hub's, and its "CDN" (another origin, so huggingface_hub reads the file's
        # metadata from the redirect itself, as it does on huggingface.co)
        self._servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
        for server in self._servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def close(self) -> None:
        self.release.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def _answer(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        self.seen.append(Seen(h.command, h.path, h.headers.get("Range")))
        parts = h.path.lstrip("/").split("/")
        if len(parts) >= 5 and parts[2] == "resolve":  # the Hub: a redirect to the file, with its sha256
            key = "/".join([parts[0], parts[1], *parts[4:]])
            if key not in self.hub:
                h.send_response(404)
                h.send_header("X-Error-Code", "EntryNotFound")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            path = self.hub[key]
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            h.send_response(302)
            h.send_header("Location", f"{self.cdn}/cdn/{key}")
            h.send_header("X-Linked-Etag", f'"{digest}"')
            h.send_header("X-Linked-Size", str(path.stat().st_size))
            h.send_header("X-Repo-Commit", "0" * 40)
            h.send_header("ETag", '"git-sha1-of-the-pointer"')
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        path = self.files.get(h.path) or self.hub.get(h.path.removeprefix("/cdn/"))
        if path is None:
            h.send_response(404)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        size = path.stat().st_size
        start = 0
        wanted = h.headers.get("Range")
        if wanted and not self.ignore_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= size:
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{size}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            h.send_response(200)
        h.send_header("Content-Length", str(size - start))
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Type", "application/octet-stream")
        h.end_headers()
        if not body:
            return
        cut = self.cut_at.pop(0) if self.cut_at else None
        sent = 0
        with path.open("rb") as f:
            f.seek(start)
            while block := f.read(1 << 20):
                if cut is not None and sent + len(block) >= cut:
                    h.wfile.write(block[: cut - sent])
                    h.wfile.flush()
                    h.close_connection = True
                    h.connection.shutdown(2)  # the transfer breaks off mid-file
                    return
                if self.hold_at is not None and sent >= self.hold_at and not self.release.is_set():
                    self.held.set()
                    self.release.wait()
                try:
                    h.wfile.write(block)
                except (BrokenPipeError, ConnectionResetError):
                    return
                sent += len(block)


if __name__ == "__main__":  # serve one file as /file from a process of its own (benchmarks/downloads.py)
    import sys
    import time

    served = FileServer({"/file": Path(sys.argv[1])})
    print(served.url, flush=True)
    while True:
        time.sleep(3600)
