"""Services raise only the application error (`core.exceptions.ApplicationError` and its subclasses).

Read off the source of every `*/services.py`: each `raise SomeError(...)` must name
an ApplicationError subclass, unless a surrounding `try` of the same service
catches it (control flow inside the service, never seen by its callers). A
re-raise (`raise`, `raise error`) passes on what the service caught and is
checked where that was raised.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from core.exceptions import ApplicationError

ROOT = Path(__file__).resolve().parents[2]
SERVICE_MODULES = sorted(
    path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".") for path in ROOT.glob("*/services.py")
)


def raised_classes(module_name: str) -> list[tuple[int, str, object]]:
    module = importlib.import_module(module_name)
    tree = ast.parse(Path(module.__file__).read_text())
    found: list[tuple[int, str, object]] = []

    def handled_names(handlers: list[ast.ExceptHandler]) -> set[str]:
        names: set[str] = set()
        for handler in handlers:
            kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            names.update(ast.unparse(kind) for kind in kinds if kind is not None)
        return names

    def visit(node: ast.AST, caught: frozenset[str]) -> None:
        if isinstance(node, ast.Try):
            inner = caught | handled_names(node.handlers)
            for child in node.body:
                visit(child, inner)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, caught)
            return
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            func = node.exc.func
            name = ast.unparse(func)
            if name not in caught:
                target = getattr(module, name, None) if isinstance(func, ast.Name) else None
                found.append((node.lineno, name, target))
        for child in ast.iter_child_nodes(node):
            visit(child, caught)

    visit(tree, frozenset())
    return found


def test_there_are_services_to_check():
    assert len(SERVICE_MODULES) >= 8
    assert "campaigns.services" in SERVICE_MODULES and "dispatches.services" in SERVICE_MODULES


def test_every_service_raises_only_application_errors():
    offenders = [
        f"{module}:{line} raises {name}"
        for module in SERVICE_MODULES
        for line, name, target in raised_classes(module)
        if not (isinstance(target, type) and issubclass(target, ApplicationError))
    ]
    assert offenders == []
