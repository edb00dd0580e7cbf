"""Publishing avatars: process the upload (media.avatar), put the JPEGs in the origin's vod bucket, point the
user at them, then delete the ones they replace.

Keys are content-hashed (``u/<user>/avatar/<sha>-256.jpg`` and ``-64.jpg``): a new avatar is a new URL, so
no cache anywhere can show the old picture under it, and the objects can be cached for long. The edge serves
``u/<user>/avatar/`` keys as public objects (cdn_sim.edge). The old objects are deleted after the catalog
points away from them; an edge copy already cached lives out its ``max-age`` (an hour).
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker

from adapters.s3 import OriginStore
from catalog import accounts
from catalog.db import session_scope
from media.avatar import Avatar, AvatarLimits, process_avatar

CACHE_CONTROL = "public, max-age=3600"
DEFAULT_LIMITS = AvatarLimits()
KEY = re.compile(r"^u/(?P<user>[0-9a-f]{16})/avatar/(?P<digest>[0-9a-f]{32})-(?P<size>\d+)\.jpg$")


def avatar_key(user_id: str, digest: str, size: int) -> str:
    return f"u/{user_id}/avatar/{digest}-{size}.jpg"


def sibling_keys(key: str, sizes: tuple[int, ...]) -> list[str]:
    """Every size's key of the avatar whose 256 px key is ``key``."""
    m = KEY.match(key)
    if m is None:
        return [key]
    return [avatar_key(m["user"], m["digest"], size) for size in sizes]


def publish_avatar(store: OriginStore, bucket: str, sessions: sessionmaker[Session], user_id: str, data: bytes,
                   limits: AvatarLimits = DEFAULT_LIMITS) -> str:
    """The new avatar's largest key, once stored and recorded; AvatarRejected for an unusable image."""
    avatar: Avatar = process_avatar(data, limits)
    keys = {size: avatar_key(user_id, avatar.digest, size) for size in avatar.images}
    for size, blob in avatar.images.items():  # objects first: the catalog never names a missing object
        store.put_bytes(bucket, keys[size], blob, content_type="image/jpeg", cache_control=CACHE_CONTROL)
    largest = keys[max(keys)]
    with session_scope(sessions) as s:
        old = accounts.set_avatar(s, user_id, largest)
    if old and old != largest:
        _delete(store, bucket, old, limits.sizes)
    return largest


def remove_avatar(store: OriginStore, bucket: str, sessions: sessionmaker[Session], user_id: str,
                  limits: AvatarLimits = DEFAULT_LIMITS) -> bool:
    with session_scope(sessions) as s:
        old = accounts.set_avatar(s, user_id, None)
    if old:
        _delete(store, bucket, old, limits.sizes)
    return old is not None


def _delete(store: OriginStore, bucket: str, key: str, sizes: tuple[int, ...]) -> None:
    for k in sibling_keys(key, sizes):
        store.delete(bucket, k)
