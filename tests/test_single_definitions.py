"""One readout and one instruction-vector builder: a second one anywhere in ``src/`` fails here (issue 22).

The checks read the source with ``ast`` (nothing is imported or run), so they hold for code no test
exercises. Each names what it found, so a failure says where the second definition is.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "wheretolisten"
#: The readout's one home, and the one module that builds steering vectors from a run's residuals.
READOUT = "readout.py"
BUILDER = "engine/base.py"


def modules(root: Path = SRC) -> dict[str, ast.Module]:
    """Every module below ``root``, parsed, by its path relative to ``root``."""
    return {
        p.relative_to(root).as_posix(): ast.parse(p.read_text(), str(p)) for p in sorted(root.rglob("*.py"))
    }


def defining(trees: dict[str, ast.Module], name: str) -> list[str]:
    """Modules that define a function or class called ``name`` (at any depth)."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return sorted(
        m for m, tree in trees.items() if any(isinstance(n, kinds) and n.name == name for n in ast.walk(tree))
    )


def using(trees: dict[str, ast.Module], name: str) -> list[str]:
    """Modules that call ``name`` (as ``name(...)`` or ``x.name(...)``)."""

    def called(node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        f = node.func
        return (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name)

    return sorted(m for m, tree in trees.items() if any(called(n) for n in ast.walk(tree)))


def reading(trees: dict[str, ast.Module], attribute: str) -> list[str]:
    """Modules that read ``x.attribute`` of some object."""
    return sorted(
        m
        for m, tree in trees.items()
        if any(isinstance(n, ast.Attribute) and n.attr == attribute for n in ast.walk(tree))
    )


def readout_problems(root: Path = SRC) -> list[str]:
    """What breaks "one readout" in the tree at ``root`` (empty: nothing)."""
    trees = modules(root)
    problems = []
    for name in ("ReadoutRule", "apply_rule"):
        if defining(trees, name) != [READOUT]:
            problems.append(f"{name} is defined in {defining(trees, name)}, not only in {READOUT}")
    # The interval primitives serve the one reader: a second readout would call them (or copy them).
    for name in ("threshold_interval", "window_interval"):
        if set(using(trees, name)) - {READOUT}:
            problems.append(f"{name} is called outside {READOUT}: {using(trees, name)}")
    for name in ("read_out", "read_profile"):
        if defining(trees, name):
            problems.append(f"a second readout {name} is defined in {defining(trees, name)}")
    return problems


def vector_problems(root: Path = SRC) -> list[str]:
    """What breaks "one vector builder" in the tree at ``root`` (empty: nothing)."""
    trees = modules(root)
    problems = []
    if defining(trees, "mean_difference") != ["vectors.py"]:
        problems.append(f"mean_difference is defined in {defining(trees, 'mean_difference')}")
    if using(trees, "mean_difference") != [BUILDER]:
        problems.append(f"steering vectors are built from residuals in {using(trees, 'mean_difference')}")
    # Residuals of a run are what vectors are made of: only the engine (and the run's home) reads them.
    outside = [m for m in reading(trees, "residual") if not (m.startswith("engine/") or m == "session.py")]
    if outside:
        problems.append(f"a run's residuals are read outside the engine: {outside}")
    return problems


def test_one_readout() -> None:
    assert readout_problems() == []


def test_one_vector_builder() -> None:
    assert vector_problems() == []


def test_the_checks_see_a_second_definition(tmp_path: Path) -> None:
    """A copy of the tree with a second readout and a second vector builder fails both checks."""
    for m, tree in modules().items():
        (tmp_path / m).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / m).write_text(ast.unparse(tree))
    extra = tmp_path / "bench" / "extra.py"
    extra.write_text(
        "from ..readout import threshold_interval\nfrom ..vectors import mean_difference\n\n"
        "class ReadoutRule: ...\n\n"
        "def peak(d, k):\n    return threshold_interval(d, k)\n\n"
        "def vector(run, a, b):\n    return mean_difference(run.residual, a, b, {})\n"
    )
    assert len(readout_problems(tmp_path)) == 2
    assert len(vector_problems(tmp_path)) == 2
