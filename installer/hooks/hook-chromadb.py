# Chroma names its parts in its Settings as dotted strings and imports them by name: collect its
# modules (not its tests, server or CLI), its data (SQL migrations, logging config) and its Rust core.
from PyInstaller.utils.hooks import collect_data_files, collect_submodules

SKIP = ("chromadb.test", "chromadb.server", "chromadb.cli", "chromadb.app")
hiddenimports = [*collect_submodules("chromadb", filter=lambda n: not n.startswith(SKIP)), "chromadb_rust_bindings"]
datas = collect_data_files("chromadb", excludes=["test/**", "**/__pycache__"])
