"""The edge image's package set: what the edge process imports, closed over dependencies, pinned from the lock.

The edge needs aioquic, minio, pydantic-settings and a few more, not TensorFlow, Airflow or OpenCV, so its
image installs ``docker/requirements-edge.txt`` instead of the whole ``requirements.lock``. This script
derives that file from what ``reelflow edge serve`` actually imports (in a fresh interpreter of the project's
venv) and from the installed packages' metadata; ``tests/unit/test_docker.py`` re-derives it and fails when
the file is stale, so a new import on the edge's path cannot be forgotten.

    .venv/bin/python docker/edge_requirements.py > docker/requirements-edge.txt
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
OUR_PACKAGES = {"reelflow", "catalog", "media", "delivery", "cdn_sim", "recommend", "feed_api", "dags", "adapters",
                "config", "jobs"}

# What the edge container runs: its entrypoint (reelflow.container), then `python -m reelflow.cli edge serve`,
# which imports the server; the two cache policies and minio's CopySource are imported inside functions.
EDGE_IMPORTS = ("reelflow.container", "reelflow.cli", "reelflow.edge", "cdn_sim.server", "cdn_sim.edge",
                "cdn_sim.sieve", "cdn_sim.s3fifo", "minio.commonconfig")
CLOSURE_PROBE = (
    "import importlib, json, sys\n"
    f"for name in {EDGE_IMPORTS!r}:\n"
    "    importlib.import_module(name)\n"
    "print(json.dumps(sorted(sys.modules)))\n"
)


def edge_modules(python: str = sys.executable) -> list[str]:
    """Every module loaded once the edge's code is imported, from a fresh interpreter (nothing else loaded)."""
    out = subprocess.run([python, "-c", CLOSURE_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout)


# Modules that exist only at run time, made by an import rather than shipped by a package (Cython-compiled
# extensions such as psycopg-binary's register ``cython_runtime``).
RUNTIME_MODULES = {"cython_runtime"}


def third_party_top_levels(modules: list[str]) -> set[str]:
    tops = {m.split(".", 1)[0] for m in modules}
    return {t for t in tops if t not in sys.stdlib_module_names and t not in OUR_PACKAGES and not t.startswith("_")
            and t not in RUNTIME_MODULES}


def lock_pins(lock: Path = LOCK) -> dict[str, str]:
    """canonical name -> version, from uv's compiled lock."""
    pins = {}
    for line in lock.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def requirements_of(name: str) -> set[str]:
    """The distribution's unconditional dependencies on this platform (no extras), canonical names."""
    deps = set()
    for text in distribution(name).requires or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            deps.add(canonicalize_name(req.name))
    return deps


def dependency_closure(roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = sorted(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += sorted(requirements_of(name) - seen)
        except PackageNotFoundError:
            raise SystemExit(f"{name} is required on the edge's path but is not installed in this venv") from None
    return seen


def roots_for(top_levels: set[str]) -> set[str]:
    providers = packages_distributions()
    missing = sorted(t for t in top_levels if t not in providers)
    if missing:
        raise SystemExit(f"no installed distribution provides {', '.join(missing)}")
    return {canonicalize_name(d) for t in top_levels for d in providers[t]}


def edge_requirements(modules: list[str] | None = None) -> str:
    """The text of docker/requirements-edge.txt."""
    names = dependency_closure(roots_for(third_party_top_levels(edge_modules() if modules is None else modules)))
    pins = lock_pins()
    unpinned = sorted(names - set(pins))
    if unpinned:
        raise SystemExit(f"not in requirements.lock: {', '.join(unpinned)}")
    lines = ["# The edge image's packages: what `reelflow edge serve` imports, closed over dependencies, pinned",
             "# from requirements.lock. Generated: .venv/bin/python docker/edge_requirements.py > "
             "docker/requirements-edge.txt"]
    return "\n".join(lines + [f"{n}=={pins[n]}" for n in sorted(names)]) + "\n"


if __name__ == "__main__":
    sys.stdout.write(edge_requirements())
