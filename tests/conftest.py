"""Session fixtures over real services: PostgreSQL and Redis on this machine, SeaweedFS started here.

The environment is fixed at import time, before anything imports Airflow or reads the settings, so
in-process ``dag.test()`` runs and the code under test see one consistent test configuration.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RUN_TAG = f"{os.getpid()}"
TMP = Path(tempfile.mkdtemp(prefix="reelflow-tests-"))
S3_PORT = free_port()
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"

TEST_ENV = {
    "REELFLOW_HOME": str(TMP / "home"),
    "REELFLOW_DATABASE_URL": f"{PG}/reelflow_test_{RUN_TAG}",
    "REELFLOW_AIRFLOW_DATABASE_URL": f"{PG}/reelflow_test_airflow",
    "REELFLOW_REDIS_URL": "redis://127.0.0.1:6379/15",
    "REELFLOW_REDIS_PREFIX": f"rftest{RUN_TAG}:",  # parallel runs on the shared Redis never see each other's keys
    "REELFLOW_S3_ENDPOINT": f"http://127.0.0.1:{S3_PORT}",
    "REELFLOW_S3_ACCESS_KEY": "test-access",
    "REELFLOW_S3_SECRET_KEY": "test-secret-key",
    "REELFLOW_RAW_BUCKET": "raw",
    "REELFLOW_VOD_BUCKET": "vod",
    # Small ladders keep encodes quick; the code paths are the same as for 1080p.
    "REELFLOW_LADDER_SHORT_SIDES": "[240, 360]",
    # Tests are development: tokens from /v1/auth/dev-token (off by default; tests of production settings
    # turn it off again and set a secret).
    "REELFLOW_DEV_AUTH": "true",
    "REELFLOW_RELADDER_POKE_S": "1",  # the re-ladder chunks look at their ingest runs every second
    # Tests sign up, comment, follow and like far faster than people, all from one address: the per-class
    # budgets (feed_api.rate_limits) are raised for every test; the tests of those limits restore the defaults.
    **{f"REELFLOW_{budget}_LIMIT_{knob}": "100000"
       for budget in ("SIGNUP", "COMMENT", "FOLLOW", "REACTION", "REPORT") for knob in ("PER_MIN", "BURST")},
    # Feed tests write videos with no views: limited exposure of new uploads is off unless a test turns it on
    # (tests/integration/test_moderation.py does).
    "REELFLOW_EXPOSURE_MIN_VIEWS": "0",
    "AIRFLOW_HOME": str(TMP / "airflow"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{PG}/reelflow_test_airflow",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parent.parent / "dags"),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
}
os.environ.update(TEST_ENV)

from adapters.s3 import OriginConfig, OriginStore  # noqa: E402
from catalog.db import drop_database, ensure_database, make_engine, make_sessionmaker  # noqa: E402
from catalog.migrate import upgrade  # noqa: E402
from config.settings import Settings, get_settings  # noqa: E402
from media.samples import make_clip, make_variant  # noqa: E402
from reelflow.s3server import start_seaweed, stop_process_group, wait_ready  # noqa: E402

get_settings.cache_clear()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def s3_server(settings: Settings) -> Iterator[str]:
    data = TMP / "s3"
    proc = start_seaweed(data, S3_PORT, settings.s3_access_key, settings.s3_secret_key, TMP / "s3.log")
    try:
        wait_ready(settings.s3_endpoint, proc, timeout_s=60)
        yield settings.s3_endpoint
    finally:
        stop_process_group(proc.pid)


@pytest.fixture(scope="session")
def store(settings: Settings, s3_server: str) -> OriginStore:
    store = OriginStore(OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key))
    store.ensure_buckets(settings.raw_bucket, settings.vod_bucket)
    return store


@pytest.fixture(scope="session")
def catalog_url(settings: Settings) -> Iterator[str]:
    ensure_database(settings.database_url)
    upgrade(settings.database_url)
    yield settings.database_url
    from config.clients import forget_sessions

    forget_sessions(settings)
    drop_database(settings.database_url)


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Airflow's metadata database, created and migrated once per run (what ``dag.test()`` writes to)."""
    import subprocess
    import sys

    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    ensure_database(url)
    migrate = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                             capture_output=True, text=True, env=os.environ.copy())
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return url


@pytest.fixture(scope="session")
def sessions(catalog_url: str):
    engine = make_engine(catalog_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def clips() -> dict[str, Path]:
    """Small real clips and hostile files, generated once per session."""
    d = TMP / "clips"
    d.mkdir(parents=True, exist_ok=True)
    landscape = make_clip(d / "landscape.mp4", width=640, height=360, seconds=4.0, audio=True)
    portrait = make_clip(d / "portrait_noaudio.mp4", width=360, height=640, seconds=3.0, audio=False,
                         pattern="testsrc")
    text = d / "notes.mp4"
    text.write_text("this is a text file pretending to be an MP4\n" * 20)
    truncated = d / "truncated.mp4"
    truncated.write_bytes(landscape.read_bytes()[: landscape.stat().st_size // 2])
    original = make_clip(d / "original.mp4", width=480, height=270, seconds=5.0, audio=False,
                         pattern="sierpinski:seed=11")
    linked = make_clip(d / "linked.mp4", width=480, height=270, seconds=5.0, audio=False, pattern="mandelbrot")
    return {
        "landscape": landscape, "portrait": portrait, "text": text, "truncated": truncated,
        "original": original,
        "near_copy": make_variant(original, d / "near_copy.mp4", scale=0.6, start_s=0.7, brightness=20, crf=32),
        "linked_original": linked,
        "linked_copy": make_variant(linked, d / "linked_copy.mp4", crop=(0.05, 0.05, 0.0, 0.0), logo=True),
        "rotated": rotated_clip(d / "rotated.mp4"),
        "short": make_clip(d / "short.mp4", width=320, height=240, seconds=0.5, audio=False),
        "tiny": make_clip(d / "tiny.mp4", width=160, height=96, seconds=2.0, audio=False),
    }


def rotated_clip(path: Path) -> Path:
    """What phones send: landscape pixels plus a display matrix saying "show me turned" (PyAV 270 = clockwise)."""
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.set_display_rotation(-90)
        for i in range(60):
            img = np.full((360, 640, 3), 90, np.uint8)
            img[:60, :100] = (255, 0, 0)
            img[200:260, i * 8:i * 8 + 40] = (0, 255, 0)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Session fixtures have stopped their servers by now; keep the tree only when asked to debug.
    if not os.environ.get("REELFLOW_KEEP_TEST_TMP"):
        import shutil

        shutil.rmtree(TMP, ignore_errors=True)
