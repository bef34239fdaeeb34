"""The folder tree is the architecture: docs/design.md names every module, and each room
imports only what its row there allows (checked statically and in fresh interpreters)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "locust_mtls"
DESIGN = (ROOT / "docs" / "design.md").read_text()


def table(marker: str) -> list[list[str]]:
    """The rows of the Markdown table between `<!-- marker: start/end -->`, header dropped."""
    body = DESIGN.split(f"<!-- {marker}: start -->")[1].split(f"<!-- {marker}: end -->")[0]
    lines = [line for line in body.strip().splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]


def names(cell: str) -> set[str]:
    return {name.strip(" `") for name in cell.split(",") if name.strip(" `")}


ROOMS = {row[0].strip("`"): (names(row[2]), names(row[3])) for row in table("rooms")}
MODULES = sorted(p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py"))


def room_of(module: Path) -> str:
    parts = module.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else module.stem


def is_module(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists()


def imported(module: Path) -> set[str]:
    """Top-level names of everything `module` imports (relative imports resolved)."""
    found = set()
    package = ".".join(("locust_mtls", *module.relative_to(PACKAGE).parts[:-1]))
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                found |= {target} if node.module else {f"{base}.{a.name}" for a in node.names}
            else:
                found.add(node.module)
                if node.module == "locust_mtls":  # a room or module, not a public name
                    found |= {
                        f"locust_mtls.{alias.name}"
                        for alias in node.names
                        if (PACKAGE / alias.name).is_dir()
                        or (PACKAGE / f"{alias.name}.py").exists()
                    }
    return found


def test_design_lists_every_module_and_only_existing_ones():
    listed = sorted(row[0].strip("`") for row in table("modules"))
    assert listed == MODULES


def test_every_room_has_a_row_and_a_docstring_that_says_what_it_may_import():
    rooms = {room_of(PACKAGE / m.removeprefix("locust_mtls/")) for m in MODULES} - {"__init__"}
    assert rooms == set(ROOMS)
    for room in rooms:
        init = PACKAGE / room / "__init__.py"
        if init.exists():
            docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
            assert "import" in docstring and len(docstring.splitlines()) >= 2, room


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_only_what_its_room_may(module):
    path = ROOT / module
    room = room_of(path)
    if room == "__init__":
        return  # the public API may name anything
    allowed, forbidden = ROOMS[room]
    for name in imported(path):
        top, _, rest = name.partition(".")
        if top == "locust_mtls" and rest:
            target = rest.split(".")[0]
            assert target == room or target in allowed, f"{module} imports {name}"
        assert top not in forbidden, f"{module} imports {name}"


def modules_loaded_by(statement: str) -> set[str]:
    """Top-level modules in sys.modules after `statement`, in a fresh interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}


@pytest.mark.parametrize("room", ["settings", "tls", "strategies", "matrix", "cli"])
def test_rooms_below_locust_load_neither_locust_nor_gevent_alone(room):
    modules = [m for m in MODULES if room_of(ROOT / m) == room]
    imports = "\n".join(
        "import " + m.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for m in modules
    )
    loaded = modules_loaded_by(imports)
    assert not {"locust", "gevent"} & loaded


@pytest.mark.parametrize("room", ["engine", "server", "locust"])
def test_every_room_imports_alone_without_cycles(room):
    modules = [m for m in MODULES if room_of(ROOT / m) == room]
    first = "import locust\n" if room == "locust" else ""  # as `locust -f` does: patch first
    for module in modules:
        name = module.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        modules_loaded_by(f"{first}import {name}")  # fails on a cycle or a missing name


def test_the_thread_engine_child_never_imports_gevent():
    loaded = modules_loaded_by("import runpy, sys\nimport locust_mtls.engine.thread_engine")
    assert "gevent" not in loaded and "locust" not in loaded


def test_only_the_locust_room_mentions_locust_in_code():
    for module in MODULES:
        if room_of(ROOT / module) != "locust":
            assert not any(
                re.fullmatch(r"locust(\..*)?", name) for name in imported(ROOT / module)
            ), module
