"""The model registry on the real S3 server: versions, the pointer switch, verified fetches, and the
serving-side cache that swaps models when the pointer moves."""

from __future__ import annotations

import json

import pytest

from adapters.model_registry import ModelRegistry


def _model_dir(tmp_path, name: str, weights: str):
    d = tmp_path / name
    (d / "sub").mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"name": name}))
    (d / "sub" / "weights.bin").write_text(weights)
    return d


def test_publish_switch_fetch_and_serving_swap(store, tmp_path):
    reg = ModelRegistry(store, bucket="models-test")
    assert reg.current("tt") is None
    reg.publish("tt", _model_dir(tmp_path, "a", "v1 weights"), "v1", meta={"recall": 0.3})
    pointer = reg.current("tt")
    assert (pointer.version, pointer.meta) == ("v1", {"recall": 0.3})

    cache = tmp_path / "cache"
    assert (reg.fetch("tt", "v1", cache) / "sub" / "weights.bin").read_text() == "v1 weights"

    # A new version uploaded but not made current leaves the pointer alone.
    reg.publish("tt", _model_dir(tmp_path, "b", "v2 weights"), "v2", make_current=False)
    assert reg.current("tt").version == "v1" and reg.versions("tt") == ["v1", "v2"]

    # The pointer switches in one write; rolling back is a switch too; an unknown version is refused.
    reg.switch("tt", "v2")
    assert reg.current("tt").version == "v2"
    reg.switch("tt", "v1")
    assert reg.current("tt").version == "v1"
    with pytest.raises(LookupError):
        reg.switch("tt", "v9")

    # A fetched copy is reused, not downloaded again (the marker is only written after a verified download).
    store.put_bytes("models-test", "tt/v1/sub/weights.bin", b"changed", content_type="application/octet-stream")
    assert (reg.fetch("tt", "v1", cache) / "sub" / "weights.bin").read_text() == "v1 weights"

    # A version whose bytes do not match the manifest is refused, and nothing half-written is left behind.
    reg.publish("tt", _model_dir(tmp_path, "c", "v3 weights"), "v3")
    store.put_bytes("models-test", "tt/v3/sub/weights.bin", b"tampered", content_type="application/octet-stream")
    with pytest.raises(ValueError, match="manifest"):
        reg.fetch("tt", "v3", tmp_path / "other-cache")
    assert not (tmp_path / "other-cache" / "tt" / "v3").exists()


def test_names_are_checked(store, tmp_path):
    reg = ModelRegistry(store, bucket="models-test")
    with pytest.raises(ValueError):
        reg.publish("../x", _model_dir(tmp_path, "d", "w"), "v1")
    with pytest.raises(ValueError):
        reg.publish("ok", tmp_path / "empty-dir-does-not-exist", "v1")
