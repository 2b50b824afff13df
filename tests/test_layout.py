"""The house's layering, checked on the source: the CLI parses and prints, the store alone speaks
SQL, the spec and the vocabulary import nothing heavy, and there is no import cycle."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"
HEAVY = ("tensorflow", "cv2", "pandas", "scipy")
SQL = re.compile(r"\b(SELECT|INSERT|CREATE TABLE|ALTER TABLE|DELETE FROM|PRAGMA)\b")


def modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(HARNESS.parent).with_suffix("").parts).removesuffix(".__init__"): path
        for path in HARNESS.rglob("*.py")
    }


def imports(path: Path) -> set[str]:
    """The harness modules ``path`` imports, at any depth of its code."""
    return imports_of(ast.walk(ast.parse(path.read_text())))


def test_the_cli_reaches_work_only_through_the_session_and_the_report():
    below = {"harness.store", "harness.run", "harness.execute", "harness.auto", "harness.train", "harness.study"}
    assert not imports(HARNESS / "cli.py") & below


def test_only_the_store_speaks_sql():
    speaking = [name for name, path in modules().items() if SQL.search(path.read_text())]
    assert speaking == ["harness.store"]


@pytest.mark.parametrize(
    "module", ["harness.config", "harness.choices", "harness.schema", "harness.rundir", "harness.looks"]
)
def test_the_spec_and_the_vocabulary_import_nothing_heavy(module):
    code = (
        f"import sys, {module}; print(sorted(m for m in ('tensorflow', 'cv2', 'pandas', 'scipy') if m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_no_import_cycle_among_module_level_imports():
    graph = {}
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]  # not those inside functions
        graph[name] = imports_of(top) - {name}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        for target in graph.get(name, ()):
            assert target not in trail, " -> ".join((*trail, target))
            if target not in done:
                visit(target, (*trail, target))
        done.add(name)

    done: set[str] = set()
    for name in graph:
        visit(name, (name,))


def imports_of(nodes: list) -> set[str]:
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("harness")}
    return found & set(modules())
