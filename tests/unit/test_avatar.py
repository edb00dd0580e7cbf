"""Avatar processing (media.avatar) against hostile files: pure, bytes in and out."""

from __future__ import annotations

import io
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from media.avatar import AvatarLimits, AvatarRejected, process_avatar, read_header


def jpeg(width: int, height: int, *, exif: bytes | None = None, colour=(200, 30, 30)) -> bytes:
    img = Image.new("RGB", (width, height), colour)
    img.paste((30, 30, 200), (0, 0, width // 2, height))  # left half blue, to see crops and turns
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **({"exif": exif} if exif else {}))
    return buf.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with a tiny (compressed) body: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * 64) * 64, 9)  # far fewer rows than declared
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def decoded(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_a_photo_becomes_square_jpegs_of_256_and_64():
    avatar = process_avatar(jpeg(800, 600))
    assert set(avatar.images) == {256, 64} and len(avatar.digest) == 32
    big, small = decoded(avatar.images[256]), decoded(avatar.images[64])
    assert big.shape == (256, 256, 3) and small.shape == (64, 64, 3)
    # Centre crop of 800x600: columns 100..700, so the blue half ends at 300/600 of the square.
    assert big[128, 60][0] > 150 and big[128, 200][2] > 150  # BGR: blue on the left, red on the right
    assert process_avatar(jpeg(800, 600)).digest == avatar.digest  # content-hashed: the same input, same key


def test_exif_is_stripped_and_orientation_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    exif[0x010F] = "SecretCam"  # make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
    data = jpeg(400, 200, exif=exif.tobytes())
    assert b"SecretCam" in data
    out = process_avatar(data).images[256]
    assert b"SecretCam" not in out and b"Exif" not in out
    im = Image.open(io.BytesIO(out))
    assert not im.getexif() and "exif" not in im.info and "icc_profile" not in im.info
    # Turned upright: the blue left half of the stored pixels is now at the top.
    img = decoded(out)
    assert img[20, 128][0] > 150 and img[235, 128][2] > 150


@pytest.mark.parametrize("data", [b"just some text, not an image at all\n" * 10, b"", b"\xff\xd8\xff" + b"\0" * 100,
                                  b"<svg xmlns='http://www.w3.org/2000/svg'/>"])
def test_non_images_are_refused(data):
    with pytest.raises(AvatarRejected):
        process_avatar(data)


def test_a_truncated_jpeg_is_refused():
    data = jpeg(640, 480)
    with pytest.raises(AvatarRejected, match="truncated or corrupt"):
        process_avatar(data[: len(data) // 2])


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding():
    bomb = png_bomb(20000, 20000)
    assert len(bomb) < 1000
    start = time.perf_counter()
    with pytest.raises(AvatarRejected, match="pixels"):
        process_avatar(bomb)
    assert time.perf_counter() - start < 0.5  # 400 MP never decoded (it would take seconds and 1.2 GB)
    with pytest.raises(AvatarRejected, match="megapixels"):
        read_header(png_bomb(9000, 9000))  # under Pillow's own bomb limit, over ours


def test_oversized_bodies_and_tiny_images_are_refused():
    with pytest.raises(AvatarRejected, match="limit"):
        process_avatar(jpeg(300, 300), AvatarLimits(max_bytes=100))
    with pytest.raises(AvatarRejected, match="at least"):
        process_avatar(jpeg(8, 8))


def test_an_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (120, 100), c) for c in ("red", "lime", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert read_header(buf.getvalue()).frames == 3
    img = decoded(process_avatar(buf.getvalue()).images[256])
    assert img[128, 128][2] > 200 and img[128, 128][1] < 60  # red (BGR)


def test_transparency_goes_on_white_and_16_bit_png_is_fine():
    rgba = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    assert decoded(process_avatar(buf.getvalue()).images[64])[32, 32].min() > 240
    deep = (np.arange(100 * 100, dtype=np.uint16).reshape(100, 100) * 6)
    ok, png16 = cv2.imencode(".png", deep)
    assert ok and decoded(process_avatar(png16.tobytes()).images[64]).shape == (64, 64, 3)


def test_a_large_jpeg_is_decoded_reduced():
    data = jpeg(6000, 4000)
    start = time.perf_counter()
    assert decoded(process_avatar(data).images[256]).shape == (256, 256, 3)
    assert time.perf_counter() - start < 2.0
