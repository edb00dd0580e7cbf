from pathlib import Path

import httpx
import pytest
from minio.error import S3Error

from adapters.s3 import ObjectNotFound, OriginConfig, OriginStore
from jobs.publish import PLAYLIST_CACHE_CONTROL, SEGMENT_CACHE_CONTROL, publish_package


def _package(root: Path) -> Path:
    (root / "360p").mkdir(parents=True)
    (root / "360p" / "init.mp4").write_bytes(b"init")
    (root / "360p" / "seg_00000.m4s").write_bytes(b"seg0")
    (root / "360p" / "index.m3u8").write_text("#EXTM3U\n")
    (root / "master.m3u8").write_text("#EXTM3U\n")
    return root


def test_publish_puts_master_last_with_cache_headers(store: OriginStore, tmp_path: Path):
    order: list[str] = []
    result = publish_package(store, _package(tmp_path / "pkg"), "vod", "v/t1/p1", on_object=order.append)
    assert order[-1] == "v/t1/p1/master.m3u8"
    assert order.index("v/t1/p1/360p/index.m3u8") > order.index("v/t1/p1/360p/seg_00000.m4s")
    assert result.objects == 4 and result.master_key == "v/t1/p1/master.m3u8"
    seg = store.get("vod", "v/t1/p1/360p/seg_00000.m4s")
    assert (seg.body, seg.content_type, seg.cache_control) == (b"seg0", "video/iso.segment", SEGMENT_CACHE_CONTROL)
    pl = store.get("vod", "v/t1/p1/master.m3u8")
    assert (pl.content_type, pl.cache_control) == ("application/vnd.apple.mpegurl", PLAYLIST_CACHE_CONTROL)


def test_publish_refuses_a_package_without_master_and_writes_nothing(store: OriginStore, tmp_path: Path):
    pkg = _package(tmp_path / "pkg")
    (pkg / "master.m3u8").unlink()
    with pytest.raises(FileNotFoundError, match="master"):
        publish_package(store, pkg, "vod", "v/t2/p1")
    assert store.list_keys("vod", "v/t2/") == []


def test_presigned_put_round_trip_and_missing_objects(store: OriginStore, settings):
    from config.clients import multipart_store

    # Every upload URL is signed with its body's length: S3 refuses any other length before storing a byte.
    url = multipart_store(settings).presign_put("raw", "uploads/x/source", 5, 60)
    assert httpx.put(url, content=b"hello, and 200 MiB more").status_code == 403
    assert store.stat_size("raw", "uploads/x/source") is None
    assert httpx.put(url, content=b"hello").status_code == 200
    assert store.stat_size("raw", "uploads/x/source") == 5
    assert store.stat_size("raw", "uploads/none") is None
    with pytest.raises(ObjectNotFound):
        store.get("vod", "no/such/key")


def test_wrong_credentials_are_refused(settings, store):
    bad = OriginStore(OriginConfig(settings.s3_endpoint, settings.s3_access_key, "wrong-secret"))
    with pytest.raises(S3Error) as err:
        bad.get("vod", "anything")
    assert err.value.code in ("SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId")


def test_endpoint_must_be_a_url():
    with pytest.raises(ValueError, match="http://host:port"):
        OriginStore(OriginConfig("127.0.0.1:9000", "a", "b"))


def test_a_publish_that_fails_midway_leaves_nothing_behind(store: OriginStore, tmp_path: Path):
    real_put = store.put_file
    calls = []

    def flaky_put(bucket, key, path, **kw):
        calls.append(key)
        if len(calls) == 3:
            raise ConnectionError("origin went away")
        return real_put(bucket, key, path, **kw)

    store.put_file = flaky_put
    try:
        with pytest.raises(ConnectionError):
            publish_package(store, _package(tmp_path / "pkg"), "vod", "v/t3/p1", workers=1)
    finally:
        del store.put_file
    assert len(calls) == 3
    assert store.list_keys("vod", "v/t3/") == []
