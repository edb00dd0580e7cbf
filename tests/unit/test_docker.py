"""docker/: the compose file against the Compose JSON schema, and each image's entrypoint run outside
Docker with the settings compose gives it (no Docker engine runs on these machines)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from config.settings import Settings

DOCKER = Path(__file__).resolve().parents[2] / "docker"
ENV_EXAMPLE = {k: v for k, v in (line.split("=", 1) for line in (DOCKER / "env.example").read_text().splitlines()
                                 if line and not line.startswith("#"))}


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ (what `docker compose config` does first)."""
    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        if op == ":?" and not value:
            raise KeyError(f"{name}: {arg}")
        return value if value else (arg if op == ":-" else "")
    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, text.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(interpolate((DOCKER / "compose.yaml").read_text(), ENV_EXAMPLE))


def test_compose_file_validates_against_the_compose_schema(compose):
    schema = json.loads((DOCKER / "compose-spec.json").read_text())
    # The vendored schema names draft 2019-09 but uses only draft-07 keywords (as the upstream spec now says).
    jsonschema.Draft7Validator(schema).validate(compose)
    services = compose["services"]
    assert {"postgres", "redis", "minio", "minio-init", "init", "airflow-api-server", "airflow-scheduler",
            "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "airflow-worker-gpu", "api",
            "edge"} <= set(services)
    long_running = [n for n, s in services.items() if n not in ("minio-init", "init")]
    assert all("healthcheck" in services[n] for n in long_running if n != "statsd-exporter")
    assert services["airflow-worker-gpu"]["command"][-3:-2] == ["gpu"] or "gpu" in services["airflow-worker-gpu"][
        "command"]
    assert services["airflow-worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    for name, svc in services.items():
        assert "@" in svc.get("image", "x@") or re.search(r":[\w.-]*\d", svc["image"]), f"{name} is not pinned"
        assert not svc.get("image", "").endswith(":latest")


def test_a_missing_secret_is_refused(compose):
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate((DOCKER / "compose.yaml").read_text(), {k: v for k, v in ENV_EXAMPLE.items()
                                                             if k != "POSTGRES_PASSWORD"})


def test_the_edge_admin_token_is_required_and_given_to_the_api_and_the_edge_only(compose):
    with pytest.raises(KeyError, match="EDGE_ADMIN_TOKEN"):
        interpolate((DOCKER / "compose.yaml").read_text(), {k: v for k, v in ENV_EXAMPLE.items()
                                                             if k != "EDGE_ADMIN_TOKEN"})
    holders = {name for name, svc in compose["services"].items()
               if "REELFLOW_EDGE_ADMIN_TOKEN" in (svc.get("environment") or {})}
    assert holders == {"api", "edge"}  # least privilege: Airflow never calls the edge's admin API
    assert _service_env(compose, "api")["REELFLOW_EDGE_ADMIN_TOKEN"] == ENV_EXAMPLE["EDGE_ADMIN_TOKEN"]
    assert _service_env(compose, "edge")["REELFLOW_EDGE_ADMIN_TOKEN"] == ENV_EXAMPLE["EDGE_ADMIN_TOKEN"]
    # The API reaches the edge by its service name, i.e. from another container: not a loopback peer.
    assert _service_env(compose, "api")["REELFLOW_EDGE_ADMIN_URL"] == "http://edge:8443"
    Settings(edge_admin_token=ENV_EXAMPLE["EDGE_ADMIN_TOKEN"])  # the example's placeholder is a valid token


def test_the_api_secret_stays_in_the_api_and_the_playback_secret_in_the_api_and_the_edge(compose):
    """Whoever holds the API secret can mint any user's token: the edge and Airflow must not hold it."""
    def holders(name: str) -> set[str]:
        return {svc for svc, spec in compose["services"].items() if name in (spec.get("environment") or {})}

    assert holders("REELFLOW_API_SECRET") == {"api"}
    assert holders("REELFLOW_PLAYBACK_SECRET") == {"api", "edge"}
    with pytest.raises(KeyError, match="PLAYBACK_SECRET"):
        interpolate((DOCKER / "compose.yaml").read_text(), {k: v for k, v in ENV_EXAMPLE.items()
                                                             if k != "PLAYBACK_SECRET"})
    Settings(playback_secret=ENV_EXAMPLE["PLAYBACK_SECRET"])  # the placeholder is long enough


def test_build_targets_exist_and_base_images_are_pinned(compose):
    targets = {}
    for file in ("Dockerfile", "Dockerfile.cuda"):
        text = (DOCKER / file).read_text()
        targets[file] = set(re.findall(r"^FROM \S+ AS (\S+)", text, re.M))
        for image in re.findall(r"^ARG \w+_IMAGE=(\S+)|^ARG CUDA_\w+=(\S+)", text, re.M):
            ref = next(i for i in image if i)
            assert re.search(r":\d[\w.-]*", ref), ref
    for svc in compose["services"].values():
        build = svc.get("build")
        if build:
            file = Path(build["dockerfile"]).name
            assert build.get("target", next(iter(targets[file]))) in targets[file]
    assert {"airflow", "api", "edge"} <= targets["Dockerfile"]


def _service_env(compose: dict, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in compose["services"][name]["environment"].items()}


@pytest.mark.parametrize("service,role,args", [("api", "api", []), ("edge", "edge", []),
                                               ("airflow-worker-gpu", "airflow", ["celery", "worker", "-q", "gpu"])])
def test_entrypoint_runs_outside_docker_with_the_compose_settings(compose, service, role, args, tmp_path):
    env = _service_env(compose, service)
    # The same variables build the settings object the code reads: every REELFLOW_* one is a known field.
    fields = {f"REELFLOW_{n.upper()}" for n in Settings.model_fields}
    assert {k for k in env if k.startswith("REELFLOW_")} <= fields
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("REELFLOW_", "AIRFLOW"))}
    run_env.update(env)
    run_env["REELFLOW_HOME"] = str(tmp_path)
    out = subprocess.run([str(DOCKER / "entrypoint.sh"), role, "--check", *args], env=run_env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    resolved = json.loads(out.stdout)
    assert resolved["settings"]["s3_endpoint"] == "http://minio:9000"
    assert resolved["settings"]["redis_url"] == "redis://redis:6379/0"
    assert resolved["settings"]["s3_secret_key"] == "***" and resolved["settings"]["api_secret"] == "***"
    assert "change-me" not in out.stdout  # secrets never printed
    if role in ("api", "edge"):
        assert resolved["settings"]["edge_admin_token"] == "***"
    if role == "api":
        assert resolved["command"][2:4] == ["uvicorn", "feed_api.app:create_app"]
        assert resolved["command"][resolved["command"].index("--workers") + 1] == "2"
    if role == "airflow":
        assert resolved["command"][-4:] == ["celery", "worker", "-q", "gpu"]
        assert resolved["airflow_env"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert resolved["airflow_env"]["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/1"


def test_entrypoint_refuses_an_unknown_role():
    out = subprocess.run([str(DOCKER / "entrypoint.sh"), "bogus", "--check"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown role" in out.stderr


def _edge_requirements_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("edge_requirements", DOCKER / "edge_requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_edge_image_installs_only_what_the_edge_imports():
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    er = _edge_requirements_module()
    modules = er.edge_modules()  # a fresh interpreter imports what `reelflow edge serve` runs
    assert {"aioquic", "minio", "cdn_sim.server", "reelflow.cli"} <= set(modules)
    tops = {m.split(".", 1)[0] for m in modules}
    heavy = {"tensorflow", "keras", "cv2", "av", "faiss", "airflow", "torch", "numpy", "sqlalchemy"}
    assert not tops & heavy, f"the edge imports {sorted(tops & heavy)}: its image would need the whole lock"

    text = (DOCKER / "requirements-edge.txt").read_text()
    pins = dict(line.split("==", 1) for line in text.splitlines() if line and not line.startswith("#"))
    # Every third-party module the edge imports comes from a package the edge image installs ...
    providers = packages_distributions()
    for top in er.third_party_top_levels(modules):
        assert {canonicalize_name(d) for d in providers[top]} & set(pins), f"{top} is not in the edge set"
    # ... at the lock's version, and the set is closed: `uv pip install --no-deps` leaves nothing missing.
    lock = er.lock_pins()
    assert all(lock[name] == version for name, version in pins.items())
    for name in pins:
        assert er.requirements_of(name) <= set(pins), f"{name} needs {er.requirements_of(name) - set(pins)}"
    assert len(pins) < len(lock) / 4  # the point: a small closure, not the 2.6 GB set
    # The file is what the generator derives now (a new import on the edge's path makes it stale).
    assert text == er.edge_requirements(modules)

    dockerfile = (DOCKER / "Dockerfile").read_text()
    edge_stage = dockerfile.split("FROM runtime AS edge", 1)[1].split("\nFROM ", 1)[0]
    assert "COPY --from=build-edge /opt/venv /opt/venv" in edge_stage
    build_edge = dockerfile.split("AS build-edge", 1)[1].split("\nFROM ", 1)[0]
    assert "requirements-edge.txt" in build_edge and "requirements.lock" not in build_edge
