"""The installed Flynn's entry point (PyInstaller's script): `flynn`, as from a clone.

A frozen app has no Python of its own, so the code Flynn hands a Python of its own (the sandbox's
trampoline, the CPU kernels' test: flynn_desktop.sandbox.python_command) comes back to this executable
after PYTHON_FLAG.
"""

import os
import sys

# The bootloader points LD_LIBRARY_PATH at the bundle so its own libraries load; the programs Flynn
# starts (a browser, an MCP server, a shell command) get the user's own, as before Flynn started.
for var in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
    if var + "_ORIG" in os.environ:
        os.environ[var] = os.environ.pop(var + "_ORIG")
    else:
        os.environ.pop(var, None)

if __name__ == "__main__":
    from flynn_desktop.sandbox import PYTHON_FLAG

    if sys.argv[1:2] == [PYTHON_FLAG]:  # flynn_desktop.sandbox.python_command: code, then its arguments
        code = sys.argv[2]
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        exec(compile(code, "<flynn>", "exec"), {"__name__": "__main__"})
        raise SystemExit(0)
    from flynn_desktop.cli import main

    raise SystemExit(main())
