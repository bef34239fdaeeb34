"""The folder tree is the architecture: docs/design.md names every module, each room imports
only what its row there allows, and no two modules import each other in a circle.

Read statically (ast), so the whole check takes a fraction of a second: `import` and
`from` statements, a package module named in a string (`importlib.import_module(name)`,
`python -m name` in a child), and loads by file path (`spec_from_file_location`,
`runpy.run_path`) of a package file.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "locust_mtls"
DESIGN = (ROOT / "docs" / "design.md").read_text()
PATH_LOADERS = {"spec_from_file_location", "run_path"}
NAME_LOADERS = {"import_module", "run_module"}


def table(marker: str) -> list[list[str]]:
    """The rows of the Markdown table between `<!-- marker: start/end -->`, header dropped."""
    body = DESIGN.split(f"<!-- {marker}: start -->")[1].split(f"<!-- {marker}: end -->")[0]
    lines = [line for line in body.strip().splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]


def names(cell: str) -> set[str]:
    return {name.strip(" `") for name in cell.split(",") if name.strip(" `")}


ROOMS = {row[0].strip("`"): (names(row[2]), names(row[3])) for row in table("rooms")}
FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = [p.relative_to(ROOT).as_posix() for p in FILES]


def dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


BY_NAME = {dotted(path): path for path in FILES}


def room_of(module: Path) -> str:
    parts = module.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else module.stem


def module_named(name: str) -> str | None:
    """The package module `name` resolves to (a name inside a module: that module)."""
    while name and name not in BY_NAME:
        name = name.rpartition(".")[0]
    return name or None


def _call_name(node: ast.Call) -> str:
    function = node.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")


def _literal_path(node: ast.AST, module: Path) -> Path | None:
    """A package file a path expression names: a string, or `Path(__file__).parent / "x.py"`."""
    strings = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
    for text in strings:
        if isinstance(text, str) and text.endswith(".py"):
            for candidate in (module.parent / text, PACKAGE / text):
                if candidate.resolve() in FILES:
                    return candidate.resolve()
    return None


@cache
def imports(module: Path, top_level_only: bool = False, children: bool = True) -> frozenset[str]:
    """Dotted names `module` imports (relative imports resolved). `top_level_only`: what
    runs when the module is imported (not inside a function or class body); `children`:
    also modules named in strings (run in a child with `python -m`, or imported by name)."""
    package = dotted(module) if module.name == "__init__.py" else dotted(module.parent)
    tree = ast.parse(module.read_text())
    nodes = _top_level(tree) if top_level_only else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Constant) and children and not top_level_only:
            if node.value not in BY_NAME:
                continue
            found.add(node.value)  # a module loaded by name: import_module, python -m
        elif isinstance(node, ast.Call) and node.args:
            called, first = _call_name(node), node.args[0]
            if called in NAME_LOADERS and isinstance(first, ast.Constant):
                found.add(str(first.value))
            elif called in PATH_LOADERS:
                path = _literal_path(node.args[-1] if called != "run_path" else first, module)
                if path is not None:
                    found.add(dotted(path))
    return frozenset(found)


def _top_level(tree: ast.Module):
    """Nodes that run at import: module statements, into if/try blocks, not into defs."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            pending += node.decorator_list
            continue
        yield from ast.walk(node) if not isinstance(node, (ast.If, ast.Try)) else (node,)
        if isinstance(node, (ast.If, ast.Try)):
            pending += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
            pending += [s for handler in getattr(node, "handlers", []) for s in handler.body]


def package_edges(module: Path, top_level_only: bool = False, children: bool = True) -> set[str]:
    """The package modules `module` imports."""
    named = imports(module, top_level_only, children)
    return {m for m in map(module_named, named) if m} - {dotted(module)}


def loaded_with(name: str) -> set[str]:
    """Every dotted name imported when package module `name` is imported (transitively,
    parent packages included), as a fresh interpreter would load them."""
    seen, pending, external = set(), [name], set()
    while pending:
        current = pending.pop()
        parts = current.split(".")
        for depth in range(1, len(parts) + 1):  # a module's packages load first
            parent = ".".join(parts[:depth])
            if parent in BY_NAME and parent not in seen:
                seen.add(parent)
                path = BY_NAME[parent]
                external |= {n for n in imports(path, True) if not n.startswith("locust_mtls")}
                pending += sorted(package_edges(path, True) - seen)
    return seen | external


def test_design_lists_every_module_and_only_existing_ones():
    listed = sorted(row[0].strip("`") for row in table("modules"))
    assert listed == MODULES


def test_every_room_has_a_row_and_a_docstring_that_says_what_it_may_import():
    rooms = {room_of(path) for path in FILES} - {"__init__"}
    assert rooms == set(ROOMS)
    for room in rooms:
        init = PACKAGE / room / "__init__.py"
        if init.exists():
            docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
            assert "import" in docstring and len(docstring.splitlines()) >= 2, room


def test_each_module_imports_only_what_its_room_may():
    wrong = []
    for path in FILES:
        room = room_of(path)
        if room == "__init__":
            continue  # the public API may name anything
        allowed, forbidden = ROOMS[room]
        for name in imports(path):
            top, _, rest = name.partition(".")
            target = rest.split(".")[0] if top == "locust_mtls" and rest else None
            if target and target != room and target not in allowed and target != "__init__":
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
            if top in forbidden:
                wrong.append(f"{path.relative_to(ROOT)} imports {name} ({room} never does)")
    assert wrong == []


def test_the_static_reader_sees_every_kind_of_import():
    # Checks the checker: a literal importlib name and a load by file path both count.
    cli = imports(PACKAGE / "cli.py")
    assert "locust_mtls.tls.pki" in cli  # importlib.import_module(module_name) via COMMANDS
    assert "locust_mtls.tls.pki" not in imports(PACKAGE / "cli.py", top_level_only=True)
    tree = ast.parse('spec_from_file_location("x", Path(__file__).parent / "plugin.py")')
    (call,) = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _call_name(n) != "Path"]
    assert _literal_path(call.args[-1], PACKAGE / "locust" / "x.py") == (
        PACKAGE / "locust" / "plugin.py"
    )


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module (each one an import circle)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles_not_even_through_a_delayed_import():
    # A function-level import that closes a circle is still a circle: the shared helper
    # belongs below both modules instead (docs/design.md).
    graph = {
        dotted(path): {
            m for m in package_edges(path, children=False) if BY_NAME[m].name != "__init__.py"
        }
        for path in FILES
        if path.name != "__init__.py"
    }
    assert strongly_connected(graph) == []


@pytest.mark.parametrize("room", ["settings", "tls", "strategies", "config", "matrix", "cli"])
def test_rooms_below_locust_load_neither_locust_nor_gevent_when_imported(room):
    for path in FILES:
        if room_of(path) == room:
            tops = {name.split(".")[0] for name in loaded_with(dotted(path))}
            assert not {"locust", "gevent"} & tops, path.relative_to(ROOT)


def test_the_thread_engine_child_never_loads_gevent_or_locust():
    tops = {name.split(".")[0] for name in loaded_with("locust_mtls.engine.thread_engine")}
    assert not {"locust", "gevent"} & tops


def test_only_the_locust_room_mentions_locust_in_code():
    for path in FILES:
        if room_of(path) != "locust":
            assert not any(re.fullmatch(r"locust(\..*)?", name) for name in imports(path)), path


def test_no_object_changes_its_class():
    """A frozen or locked context is born of its class (tls/contexts.urllib3_context), never
    made one by assigning `__class__` to an object built as something else."""
    for path in FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            assert not any(
                isinstance(t, ast.Attribute) and t.attr == "__class__" for t in targets
            ), path
