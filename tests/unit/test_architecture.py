"""The import graph between top-level packages runs downhill (docs/ARCHITECTURE.md, "Layers").

Every module's imports are read from its syntax tree, including imports inside functions and under
``TYPE_CHECKING``: a lazy import is still a dependency, it only moves the cost.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A package may import only packages that stand strictly before it.
LAYERS: list[tuple[str, ...]] = [
    ("media",),      # cores: pure functions and small classes over paths, bytes and arrays
    ("recommend",),
    ("delivery",),
    ("cdn_sim",),
    ("catalog",),    # the system of record (PostgreSQL)
    ("adapters",),   # clients of outside services: S3, Airflow REST, edge admin, Redis, model registry
    ("config",),     # the settings object and "settings in, client out"
    ("jobs",),       # the application's jobs: ingest, re-ladder, tiering, purges, candidate refresh, training
    ("feed_api",),   # shells: the HTTP API,
    ("reelflow",),   # the CLI, the stack and the edge process,
    ("dags",),       # and the Airflow DAG files
]
CORES = {"media", "recommend", "delivery", "cdn_sim"}
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def imported_modules(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def package_edges() -> dict[tuple[str, str], set[str]]:
    """(importer package, imported package) -> the importing modules."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for pkg in RANK:
        for path in (ROOT / pkg).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for name in imported_modules(ast.parse(path.read_text(), str(path))):
                top = name.split(".")[0]
                if top in RANK and top != pkg:
                    edges[(pkg, top)].add(module)
    return edges


def test_every_top_level_package_is_placed_in_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} | {"dags"}
    unplaced = packages - set(RANK) - {"tests", "bench", "docker"}
    assert not unplaced, f"place these packages in LAYERS (and in docs/ARCHITECTURE.md): {sorted(unplaced)}"


def test_imports_only_go_downhill() -> None:
    upward = {f"{a} -> {b} ({', '.join(sorted(mods))})" for (a, b), mods in package_edges().items()
              if RANK[b] >= RANK[a]}
    assert not upward, "imports that point up or sideways:\n" + "\n".join(sorted(upward))


def test_package_graph_has_no_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in package_edges():
        graph[a].add(b)
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' -> '.join(path + (node,))}"
        if node in done:
            return
        for nxt in graph[node]:
            visit(nxt, path + (node,))
        done.add(node)

    for node in list(graph):
        visit(node, ())


@pytest.mark.parametrize("core", sorted(CORES))
def test_cores_import_no_service_client_framework_or_settings(core: str) -> None:
    """Cores take plain values: no settings object, no adapter, no Airflow, web framework or database client."""
    banned = ("airflow", "fastapi", "starlette", "sqlalchemy", "redis", "minio", "boto3", "psycopg",
              "pydantic_settings", "adapters", "config", "catalog", "jobs")
    offenders = []
    for path in (ROOT / core).rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        for name in imported_modules(ast.parse(path.read_text())):
            if name.split(".")[0] in banned:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(sorted(set(offenders)))
