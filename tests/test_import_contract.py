"""The layers of docs/architecture.md, held against every import in the code (module top and
inside functions alike): a change that makes a lower layer reach up fails here.

    webapp (the app factory), wsgi,     may import anything: they put the layers together
    webapp.gunicorn_conf
    jobs/, the web (blueprints, views)  may import services, the foundation and core; never each other
                                        (jobs/ may import the app factory: the worker builds its app)
    webapp.services                     may import the foundation and core
    the foundation (models, config …)   may import core
    webapp.core                         imports nothing of Haul's but itself and webapp.errors, and no Flask
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FOUNDATION = ("webapp.config", "webapp.errors", "webapp.extensions", "webapp.database", "webapp.models",
              "webapp.app_log")
COMPOSITION = ("webapp", "wsgi", "webapp.gunicorn_conf")


def layer_of(module: str) -> str:
    if module in COMPOSITION:
        return "composition"
    if module == "webapp.core" or module.startswith("webapp.core."):
        return "core"
    if any(module == name or module.startswith(name + ".") for name in FOUNDATION):
        return "foundation"
    if module == "webapp.services" or module.startswith("webapp.services."):
        return "services"
    if module == "jobs" or module.startswith("jobs."):
        return "jobs"
    if module.startswith("webapp."):
        return "web"
    return "outside"


ALLOWED = {
    "composition": {"composition", "web", "jobs", "services", "foundation", "core"},
    "web": {"web", "services", "foundation", "core"},
    "jobs": {"jobs", "services", "foundation", "core", "composition"},
    "services": {"services", "foundation", "core"},
    "foundation": {"foundation", "core"},
    "core": {"core"},
}
# webapp.errors has no imports of its own: the domain errors are plain exceptions core may raise.
CORE_MAY_ALSO_IMPORT = {"webapp.errors"}
FLASK_PACKAGES = ("flask", "flask_sqlalchemy", "flask_login", "flask_sock", "flask_wtf", "flask_limiter",
                  "flask_smorest", "flask_migrate", "sqlalchemy", "werkzeug")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files():
    yield ROOT / "wsgi.py"
    for package in ("webapp", "jobs"):
        yield from sorted((ROOT / package).rglob("*.py"))


def imports_of(path: Path):
    """(line, imported module) for every import in the file, relative ones resolved."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from webapp.services.queue import events` imports webapp.services.queue.events
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base


def _is_module(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def back_edges():
    found = []
    for path in source_files():
        importer = module_name(path)
        layer = layer_of(importer)
        for line, imported in imports_of(path):
            target = layer_of(imported)
            where = f"{path.relative_to(ROOT)}:{line}"
            if target == "outside":
                if layer == "core" and imported.split(".")[0] in FLASK_PACKAGES:
                    found.append(f"{where}: core imports {imported} (core stays free of Flask and the database)")
                continue
            if layer == "core" and imported in CORE_MAY_ALSO_IMPORT:
                continue
            if target not in ALLOWED[layer]:
                found.append(f"{where}: {importer} ({layer}) imports {imported} ({target})")
    return found


def test_no_layer_imports_a_layer_above_it():
    assert back_edges() == []


@pytest.mark.parametrize("importer, imported", [
    ("webapp/services/queue/dispatch.py", "jobs.tasks"),
    ("jobs/runner.py", "webapp.queue.routes"),
    ("webapp/core/paths.py", "webapp.models"),
    ("webapp/core/urls.py", "flask"),
    ("webapp/models/job.py", "webapp.services.queue.events"),
    ("webapp/api/queue.py", "jobs.runner"),
])
def test_the_contract_catches_a_back_edge(importer, imported):
    """The check above fails on a back edge: add one import to a copy of a real module and look."""
    path = ROOT / importer
    original = path.read_text()
    try:
        path.write_text(original + f"\n\ndef _probe():\n    import {imported}  # noqa\n")
        assert any(importer in edge and imported in edge for edge in back_edges())
    finally:
        path.write_text(original)
