"""The shape of ``app.py`` (issue 13, "a thin app"): read with :mod:`ast`,
not imported. At most 600 lines; every handler at most 30 lines; the layout
builders (named here) at most 80; no ``global`` caches; and every name it
imports from mcld is in the ``__all__`` of a public module (``mcld.X``, no
deeper module, no underscore names)."""

from __future__ import annotations

import ast
import importlib

import pytest

from tools.appserver import REPO_ROOT

APP = REPO_ROOT / "app.py"
MAX_LINES = 600
MAX_HANDLER_LINES = 30
MAX_LAYOUT_LINES = 80
#: The section builders and the wiring: layout code, allowed up to MAX_LAYOUT_LINES.
LAYOUT_BUILDERS = {
    "build_demo", "_header", "_photo_picker", "_target_section", "_run_section", "_edit_photo_column", "_edit_photos",
    "_edit_choices", "_edit_section", "_compare_section", "_results_section", "_advanced_section", "_conditions_section",
    "_wire_people", "_wire_runs", "_wire_edit_photos",
}  # fmt: skip


@pytest.fixture(scope="module")
def tree() -> ast.Module:
    return ast.parse(APP.read_text(encoding="utf-8"), filename=str(APP))


def _functions(tree):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _length(node) -> int:
    """Lines from ``def`` to the last line of the body (signature, docstring and body; decorators not counted)."""
    return node.end_lineno - node.lineno + 1


def _mcld_imports(tree) -> list[tuple[str, str]]:
    """``(module, name)`` for every ``from mcld... import name`` and ``(module, "")`` for ``import mcld...``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mcld":
            assert node.level == 0, f"line {node.lineno}: relative import"
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "mcld"]
    return found


def test_app_is_at_most_600_lines():
    lines = len(APP.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"app.py has {lines} lines (at most {MAX_LINES})"


def test_every_handler_is_short_and_layout_builders_are_bounded(tree):
    names = {f.name for f in _functions(tree)}
    assert LAYOUT_BUILDERS <= names, f"layout builders named here but not in app.py: {sorted(LAYOUT_BUILDERS - names)}"
    too_long = {
        f.name: _length(f)
        for f in _functions(tree)
        if _length(f) > (MAX_LAYOUT_LINES if f.name in LAYOUT_BUILDERS else MAX_HANDLER_LINES)
    }
    assert not too_long, f"functions over {MAX_HANDLER_LINES} lines (layout builders: {MAX_LAYOUT_LINES}): {too_long}"
    assert {"generate", "edit_regions", "compare", "preview_target"} <= names - LAYOUT_BUILDERS


def test_app_keeps_no_global_state(tree):
    globals_ = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Global)]
    assert not globals_, f"`global` statements at lines {globals_}: caches belong to mcld.demo.DemoServices"


def test_app_imports_only_mcld_public_api(tree):
    imports = _mcld_imports(tree)
    assert any(module == "mcld.demo" for module, _ in imports), "app.py must use mcld.demo"
    for module, name in imports:
        assert module.count(".") <= 1, f"deep import {module}: re-export it through mcld or mcld.demo"
        if not name:
            continue
        assert not name.startswith("_"), f"from {module} import {name}: a private name"
        public = getattr(importlib.import_module(module), "__all__", None)
        assert public is not None, f"{module} has no __all__"
        assert name in public, f"from {module} import {name}: not in {module}.__all__"


def test_the_import_check_fails_on_a_private_or_deep_import():
    bad = ast.parse("from mcld.annotators.densepose.iuv import iuv_to_display\nfrom mcld.demo import _mode\n")
    with pytest.raises(AssertionError, match="deep import mcld.annotators.densepose.iuv"):
        test_app_imports_only_mcld_public_api(bad)
    with pytest.raises(AssertionError, match="a private name"):
        test_app_imports_only_mcld_public_api(ast.parse("from mcld.demo import DemoOptions, _mode\n"))
