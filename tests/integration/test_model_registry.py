"""The model registry on the real S3 server: versions, the pointer switch, verified fetches, and the
serving-side cache that swaps models when the pointer moves."""

from __future__ import annotations

import json

import pytest

from recommend.registry import CurrentModel, ModelRegistry


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

    clock = [0.0]
    loads = []

    def loader(path):
        loads.append(path)
        return (path / "sub" / "weights.bin").read_text()

    serving = CurrentModel(reg, "tt", loader, tmp_path / "cache", check_s=30, clock=lambda: clock[0])
    assert serving.get() == "v1 weights" and serving.version == "v1"

    # A new version is uploaded but not yet current: serving does not see it.
    reg.publish("tt", _model_dir(tmp_path, "b", "v2 weights"), "v2", make_current=False)
    clock[0] = 100
    assert serving.get() == "v1 weights"
    assert reg.versions("tt") == ["v1", "v2"]

    # The pointer switches: the next check (not before check_s) loads v2 in one swap.
    reg.switch("tt", "v2")
    clock[0] = 110
    assert serving.get() == "v1 weights"  # checked 10 s ago
    clock[0] = 131
    assert serving.get() == "v2 weights" and serving.version == "v2"
    assert len(loads) == 2

    # Rolling back is a pointer switch too; a fetched copy is reused, not downloaded again.
    reg.switch("tt", "v1")
    clock[0] = 200
    assert serving.get() == "v1 weights" and len(loads) == 3
    with pytest.raises(LookupError):
        reg.switch("tt", "v9")

    # A version whose bytes do not match the manifest is refused; serving keeps the model it has.
    reg.publish("tt", _model_dir(tmp_path, "c", "v3 weights"), "v3")
    store.put_bytes("models-test", "tt/v3/sub/weights.bin", b"tampered", content_type="application/octet-stream")
    with pytest.raises(ValueError, match="manifest"):
        reg.fetch("tt", "v3", tmp_path / "other-cache")
    clock[0] = 300
    assert serving.get() == "v1 weights" and serving.version == "v1"


def test_names_are_checked(store, tmp_path):
    reg = ModelRegistry(store, bucket="models-test")
    with pytest.raises(ValueError):
        reg.publish("../x", _model_dir(tmp_path, "d", "w"), "v1")
    with pytest.raises(ValueError):
        reg.publish("ok", tmp_path / "empty-dir-does-not-exist", "v1")
