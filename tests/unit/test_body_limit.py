"""The request body limit's default against the largest bodies the API accepts."""

from __future__ import annotations

import json

from config.settings import Settings
from feed_api.schemas import CreateVideo, InteractionBatch, NewComment, SignUp

ASTRAL = "\U00020000"  # a CJK letter outside the BMP: a word character, 12 bytes as a JSON escape pair


def test_the_default_limit_leaves_room_above_the_largest_valid_bodies():
    """Each body below is as large as validation lets it be, written as escaped ASCII; each must pass."""
    limit = Settings.model_fields["max_request_body_bytes"].default
    tags = [ASTRAL * 63 + str(i % 10) for i in range(30)]  # 64 characters each
    largest = {
        "POST /v1/videos": (CreateVideo, {"caption": ASTRAL * 2200, "hashtags": tags,
                                          "privacy": "followers", "sound_id": "s" * 64, "category": "c" * 32,
                                          "size_bytes": 2**62}),
        "POST /v1/interactions": (InteractionBatch, {"events": [
            {"video_id": "f" * 16, "kind": "view_start", "watch_ms": 3_600_000, "progress": 0.123456789012345,
             "session_id": "f" * 32}] * 100}),
        "POST /v1/videos/{id}/comments": (NewComment, {"body": ASTRAL * 500, "parent_id": 2**62}),
        "POST /v1/users": (SignUp, {"handle": "h" * 30, "display_name": ASTRAL * 64, "region": "r" * 8,
                                    "interests": tags[:20]}),
    }
    for route, (model, body) in largest.items():
        model.model_validate(body)  # valid, so a client may send it
        size = len(json.dumps(body, indent=2).encode())  # escaped and pretty-printed: as large as it gets
        assert size * 2 < limit, (route, size, limit)
