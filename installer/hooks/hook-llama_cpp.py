# llama-cpp-python loads its libraries with ctypes from llama_cpp/lib (PyInstaller can't see that):
# libllama, libggml*, and a portable build's CPU kernels (libggml-cpu-haswell.so, ...). A wheel holds
# each Linux library three times (libggml.so, .so.0, .so.0.25.3): the bundle takes the one the others
# link (.so.0), and installer/build.sh makes libggml.so a link to it. libmtmd (images, which Flynn
# doesn't send) stays out.
import re
from pathlib import Path

from PyInstaller.utils.hooks import get_package_paths

lib = Path(get_package_paths("llama_cpp")[1]) / "lib"
names = {p.name for p in lib.iterdir()}


def wanted(p):
    if not p.is_file() or p.suffix == ".a" or p.name.startswith(("libmtmd", "mtmd")):
        return False
    if re.search(r"\.so\.\d+\.\d+", p.name):  # the full version: nothing loads it by that name
        return False
    return not (p.suffix == ".so" and f"{p.name}.0" in names)  # libggml.so: a link to libggml.so.0


binaries = [(str(p), "llama_cpp/lib") for p in sorted(lib.iterdir()) if wanted(p)]
