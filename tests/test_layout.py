"""The house rules that no linter checks: modules stay small or say why, and the map
(docs/ARCHITECTURE.md) names every folder and every room there is."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "flynn_desktop"
LIMIT = 400


def test_no_module_past_400_lines_without_saying_why() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text("utf-8").splitlines()
        head = "\n".join(lines[:15])
        if len(lines) > LIMIT and not re.search(r"[Ll]onger than 400 lines", head):
            long.append(f"{path.relative_to(ROOT)} ({len(lines)} lines)")
    assert not long, f"split these, or say why at their top: {long}"


def test_the_map_names_every_folder_and_room() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text("utf-8")
    packages = [p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    missing = [f"{name}/" for name in packages if f"`{name}/`" not in text]
    rooms = [p.name for p in (PACKAGE / "runtime").glob("*.py") if p.name != "__init__.py"]
    missing += [name for name in rooms if f"`{name}`" not in text]
    assert not missing, f"docs/ARCHITECTURE.md does not mention {missing}"
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "docs/ARCHITECTURE.md" in readme and "DESIGN.md" not in readme


def test_the_tree_in_the_map_lists_every_module() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text("utf-8")
    tree = text.split("## The tree", 1)[1].split("```")[1]
    listed: set[str] = set()
    folder = ""
    for line in tree.splitlines():
        name = line.strip().split(" ", 1)[0]
        if not name or name == "flynn_desktop/":
            continue
        if name.endswith("/"):
            folder = name if line.startswith("  ") and not line.startswith("    ") else folder
            continue
        listed.add((folder if line.startswith("    ") else "") + name)
    actual = {
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and "resources" not in p.parts
    }
    assert actual - listed == set(), f"missing from the tree: {sorted(actual - listed)}"
    assert listed - actual == set(), f"in the tree but not in the code: {sorted(listed - actual)}"
