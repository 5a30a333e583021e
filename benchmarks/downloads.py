"""Model downloads: Flynn's downloader against curl on the same file from the same loopback server,
and the cost of checking a download's sha256.

    .venv/bin/python benchmarks/downloads.py [--size-mb 1000] [--runs 3]

A file of --size-mb (the bundled GGUF repeated) is served by tests/helpers/file_server.py on
127.0.0.1 from a process of its own (HTTP Range, as a model host). Side by side in one run, alternating:
- `curl -s -o FILE URL`, and `providers.download.download` (urllib reading, a second thread writing
  and hashing, `.partial` then renamed): MB/s each, and Flynn/curl (target >= 0.9);
- hashing alone (hashlib.sha256 over the file, as `download` does while the bytes arrive), in s/GB,
  and `sha256sum` on the same file for comparison; and curl followed by that hash (the same work as
  Flynn's: a download that is checked).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flynn_desktop.checksums import sha256_file  # noqa: E402
from flynn_desktop.providers.download import download, resolve  # noqa: E402
from tests.helpers.gguf_files import bundled_gguf  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        big = folder / "served.gguf"
        block = bundled_gguf().read_bytes()
        with big.open("wb") as f:
            while f.tell() < args.size_mb * 1_000_000:
                f.write(block)
        size = big.stat().st_size
        sha = hashlib.sha256(big.read_bytes()).hexdigest()
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.file_server", str(big)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        url = server.stdout.readline().strip() + "/file"
        flynn_s: list[float] = []
        curl_s: list[float] = []
        try:
            for run in range(args.runs):
                out = folder / f"curl-{run}.gguf"
                t = time.perf_counter()
                subprocess.run(["curl", "-s", "-o", str(out), url], check=True)
                curl_s.append(time.perf_counter() - t)
                out.unlink()
                dest = folder / f"flynn-{run}.gguf"
                t = time.perf_counter()
                assert download(resolve(url, sha), dest) == sha
                flynn_s.append(time.perf_counter() - t)
                dest.unlink()
            hash_s, sum_s = [], []
            for _ in range(args.runs):
                t = time.perf_counter()
                sha256_file(big)
                hash_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                subprocess.run(["sha256sum", str(big)], check=True, capture_output=True)
                sum_s.append(time.perf_counter() - t)
        finally:
            server.kill()
    mb = size / 1e6
    f_rate, c_rate = mb / statistics.median(flynn_s), mb / statistics.median(curl_s)
    print(f"file: {mb:.0f} MB from 127.0.0.1, {args.runs} runs each, medians")
    print(f"curl:                    {c_rate:8.0f} MB/s")
    print(
        f"flynn (with sha256):     {f_rate:8.0f} MB/s   flynn/curl = {f_rate / c_rate:.2f}  (target >= 0.9)"
    )
    gb = size / 1e9
    same_work = mb / (statistics.median(curl_s) + statistics.median(hash_s))
    print(f"curl, then sha256:       {same_work:8.0f} MB/s   flynn/(curl+sha256) = {f_rate / same_work:.2f}")
    print(f"sha256 alone (hashlib):  {statistics.median(hash_s) / gb:8.2f} s/GB")
    print(f"sha256sum:               {statistics.median(sum_s) / gb:8.2f} s/GB")


if __name__ == "__main__":
    main()
