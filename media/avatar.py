"""Avatars: an uploaded image in, square JPEGs (256 and 64 px) out. Pure: bytes in, bytes out.

Hostile input is the normal case here, so the steps go from cheap to costly:

1. the byte count (the API's body limit already cut it);
2. the header only (Pillow opens lazily: format, size and frame count without decoding a pixel): not a
   JPEG, PNG, WebP or GIF is refused, and so is a decompression bomb (a small file declaring a huge
   canvas, e.g. a 20000x20000 PNG of one colour) by its declared pixel count, before any decode;
3. the decode, by OpenCV; JPEGs are decoded at 1/2, 1/4 or 1/8 scale by the codec itself when that still
   leaves 256 px, so a 48 MP photo costs a 3 MP decode. A truncated or corrupt file fails here. EXIF
   orientation is applied (a phone's portrait photo stays upright); transparent pixels go on white;
4. centre crop to a square, resize (area averaging), encode JPEG. OpenCV writes a bare JFIF: nothing of the
   upload's metadata (EXIF with GPS position, camera serial, comments, ICC profiles) survives.

An animated GIF (or WebP) is accepted; its first frame becomes the avatar.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}


class AvatarRejected(ValueError):
    """Not usable as an avatar; the message says why, for the uploader."""


@dataclass(frozen=True)
class AvatarLimits:
    max_bytes: int = 5 * 2**20
    max_pixels: int = 50_000_000  # a 48 MP phone photo passes; the header says so before any decode
    min_side: int = 16
    sizes: tuple[int, ...] = (256, 64)
    quality: int = 88


@dataclass(frozen=True)
class Avatar:
    digest: str  # of the largest output: the content-hashed part of its keys
    images: dict[int, bytes]  # size (px) -> JPEG


@dataclass(frozen=True)
class Header:
    format: str
    width: int
    height: int
    frames: int
    alpha: bool


def read_header(data: bytes, limits: AvatarLimits | None = None) -> Header:
    """What the file says it is, without decoding its pixels; AvatarRejected for a non-image or a bomb."""
    limits = limits or AvatarLimits()
    if len(data) > limits.max_bytes:
        raise AvatarRejected(f"the image is {len(data)} bytes; the limit is {limits.max_bytes}")
    if not data:
        raise AvatarRejected("the body is empty; send the image's bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            fmt, (w, h) = im.format or "", im.size
            frames = int(getattr(im, "n_frames", 1) or 1)
            alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AvatarRejected("the image declares too many pixels") from exc
    except Exception as exc:  # Pillow raises many types for garbage; all mean the same here
        raise AvatarRejected("not an image (JPEG, PNG, WebP or GIF)") from exc
    if fmt not in FORMATS:
        raise AvatarRejected(f"{fmt or 'this'} images are not accepted; send JPEG, PNG, WebP or GIF")
    if w * h > limits.max_pixels:
        raise AvatarRejected(f"the image is {w}x{h}; at most {limits.max_pixels // 1_000_000} megapixels")
    if min(w, h) < limits.min_side:
        raise AvatarRejected(f"the image is {w}x{h}; at least {limits.min_side} px a side")
    return Header(fmt, w, h, frames, alpha)


def _reduction(header: Header, target: int) -> int:
    """The JPEG codec's own downscale (1/2, 1/4, 1/8) that still leaves ``target`` px on the short side."""
    if header.format != "JPEG":
        return 1
    short = min(header.width, header.height)
    return next((f for f in (8, 4, 2) if short // f >= target), 1)


REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
           8: cv2.IMREAD_REDUCED_COLOR_8}


def decode(data: bytes, header: Header, target: int) -> np.ndarray:
    """BGR uint8 pixels, upright, transparency flattened onto white."""
    buf = np.frombuffer(data, np.uint8)
    if header.alpha:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    else:
        img = cv2.imdecode(buf, REDUCED[_reduction(header, target)])
    if img is None or img.size == 0:
        raise AvatarRejected("the image could not be decoded (truncated or corrupt)")
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    elif img.shape[2] != 3:
        raise AvatarRejected("unsupported colour layout")
    return img


def square(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return img[top:top + side, left:left + side]


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    ok, out = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any BGR uint8 array
        raise AvatarRejected("could not encode the avatar")
    return out.tobytes()


def process_avatar(data: bytes, limits: AvatarLimits | None = None) -> Avatar:
    limits = limits or AvatarLimits()
    header = read_header(data, limits)
    largest = max(limits.sizes)
    sq = square(decode(data, header, largest))
    images = {}
    for size in sorted(limits.sizes, reverse=True):
        interp = cv2.INTER_AREA if sq.shape[0] >= size else cv2.INTER_CUBIC
        images[size] = encode_jpeg(cv2.resize(sq, (size, size), interpolation=interp), limits.quality)
    return Avatar(hashlib.sha256(images[largest]).hexdigest()[:32], images)
