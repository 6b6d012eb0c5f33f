"""Product code stays in small pieces: no function or method over 80 lines, no class over 400.

Lines are counted as ``end_lineno - lineno + 1`` of the ``ast`` node (decorators not included).
Both packages are held to it with no exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION, MAX_CLASS = 80, 400

def oversized(package: str) -> dict[str, int]:
    """``"path:Qualified.name" -> lines`` of every function over MAX_FUNCTION and class over MAX_CLASS lines."""
    found: dict[str, int] = {}

    def walk(node: ast.AST, path: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                lines = child.end_lineno - child.lineno + 1      # type: ignore[operator]
                limit = MAX_CLASS if isinstance(child, ast.ClassDef) else MAX_FUNCTION
                if lines > limit:
                    found[f"{path}:{name}"] = lines
                walk(child, path, name + ".")
            else:
                walk(child, path, prefix)

    for file in sorted((ROOT / package).rglob("*.py")):
        path = file.relative_to(ROOT).as_posix()
        walk(ast.parse(file.read_text(encoding="utf-8"), filename=path), path, "")
    return found


@pytest.mark.parametrize("package", ["metst_gui", "metst_engine"])
def test_no_long_functions_or_classes(package):
    found = oversized(package)
    assert not found, f"split these in {package} (functions <= 80 lines, classes <= 400):\n" + "\n".join(
        f"  {name}: {lines} lines" for name, lines in sorted(found.items()))


def test_the_shape_check_finds_a_long_function(tmp_path, monkeypatch):
    """The walker really counts nested methods (a check that finds nothing proves nothing)."""
    body = "\n".join(f"        x{i} = {i}" for i in range(81))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(f"class A:\n    def long(self):\n{body}\n", encoding="utf-8")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert oversized("pkg") == {"pkg/m.py:A.long": 82}
