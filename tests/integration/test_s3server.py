"""The local S3 server (SeaweedFS via reelflow.s3server): objects are reachable only through S3 with keys.
Its filer's HTTP port used to serve any object by path to anyone who could connect, keys or not."""

from __future__ import annotations

import socket

import httpx
import pytest

from adapters.s3 import OriginConfig, OriginStore
from reelflow.s3server import free_internal_ports, start_seaweed, stop_process_group, wait_ready
from tests.sockets import descendants, listening


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port, internal = _free_port(), free_internal_ports()
    data = tmp_path_factory.mktemp("seaweed")
    proc = start_seaweed(data, port, "s3server-test", "s3server-test-secret", data / "weed.log", internal)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, timeout_s=60)
        yield proc, port, internal
    finally:
        stop_process_group(proc.pid)


def test_objects_are_served_only_through_s3_with_keys(server):
    proc, port, internal = server
    store = OriginStore(OriginConfig(f"http://127.0.0.1:{port}", "s3server-test", "s3server-test-secret"))
    store.ensure_buckets("raw")
    store.put_bytes("raw", "uploads/0123456789abcdef/source", b"private bytes", content_type="video/mp4")
    assert store.get("raw", "uploads/0123456789abcdef/source").body == b"private bytes"  # S3 with keys serves it

    assert httpx.get(f"http://127.0.0.1:{port}/raw/uploads/0123456789abcdef/source").status_code == 403
    for url, method in [(f"http://127.0.0.1:{internal.filer}/buckets/raw/uploads/0123456789abcdef/source", "GET"),
                        (f"http://127.0.0.1:{internal.filer}/buckets/raw/", "GET"),  # a listing
                        (f"http://127.0.0.1:{internal.filer}/buckets/raw/uploads/evil", "PUT"),
                        (f"http://127.0.0.1:{internal.filer}/buckets/raw/uploads/0123456789abcdef/source", "DELETE"),
                        (f"http://127.0.0.1:{internal.master}/dir/assign", "GET")]:
        try:
            resp = httpx.request(method, url, content=b"evil" if method == "PUT" else None, timeout=5)
        except httpx.ConnectError:
            continue  # refused: as good
        assert resp.status_code >= 400 and b"private bytes" not in resp.content, (method, url, resp.status_code)
    assert store.get("raw", "uploads/0123456789abcdef/source").body == b"private bytes"
    assert store.list_keys("raw", "uploads/") == ["uploads/0123456789abcdef/source"]


def test_every_listener_is_on_the_loopback_and_the_ports_are_its_own(server):
    proc, port, internal = server
    addresses = listening(descendants(proc.pid))
    ports = {p for _, p in addresses}
    assert {port, internal.master, internal.volume, internal.filer} <= ports
    assert not {8888, 9333, 9340} & ports  # not SeaweedFS's defaults, which a second server would collide on
    assert {host for host, _ in addresses} == {"127.0.0.1"}, addresses


def test_a_data_directory_keeps_its_internal_ports_while_they_are_free(tmp_path):
    from reelflow.s3server import internal_ports_for

    first = internal_ports_for(tmp_path)
    assert internal_ports_for(tmp_path) == first  # the master knows the volume server by its address
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first.filer))
        taken.listen()
        assert internal_ports_for(tmp_path).filer != first.filer
