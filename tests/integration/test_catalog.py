import pytest

from catalog import videos as repo
from catalog.db import session_scope


def test_lifecycle_and_rendition_replacement(sessions):
    with session_scope(sessions) as s:
        vid = repo.create_video(s, caption="hello", hashtags=["a", "b"]).id
    with session_scope(sessions) as s:
        v = repo.start_processing(s, vid, run_id="r1")
        assert v.state == "processing" and v.upload_completed_at is not None
    rec = repo.RenditionRecord("360p", "video", "avc1.64001E", "libx264", 640, 360, 900_000, 800_000, "p/360p/i.m3u8")
    with session_scope(sessions) as s:
        repo.mark_ready(s, vid, publish_prefix="v/x/1", master_key="v/x/1/master.m3u8", renditions=[rec])
    # A content team re-runs the video: new publication replaces the renditions.
    with session_scope(sessions) as s:
        repo.start_processing(s, vid, run_id="r2")
        repo.mark_ready(s, vid, publish_prefix="v/x/2", master_key="v/x/2/master.m3u8",
                        renditions=[rec, repo.RenditionRecord("audio", "audio", "mp4a.40.2", "aac", 0, 0, 0, 0, "a")])
    with session_scope(sessions) as s:
        v = repo.get_video(s, vid)
        assert v.state == "ready" and v.master_key == "v/x/2/master.m3u8"
        assert sorted(r.name for r in v.renditions) == ["360p", "audio"]
        assert v.raw_key == f"uploads/{vid}/source" and v.hashtags == ["a", "b"]


def test_invalid_transitions_are_refused_and_nothing_changes(sessions):
    with session_scope(sessions) as s:
        vid = repo.create_video(s).id
    with pytest.raises(repo.InvalidTransition, match="uploading; it cannot become ready"), session_scope(sessions) as s:
        repo.mark_ready(s, vid, publish_prefix="p", master_key="p/m", renditions=[])
    with session_scope(sessions) as s:
        assert repo.get_video(s, vid).state == "uploading"
    with pytest.raises(repo.VideoNotFound), session_scope(sessions) as s:
        repo.get_video(s, "0000000000000000")


def test_failure_keeps_code_and_reason(sessions):
    with session_scope(sessions) as s:
        vid = repo.create_video(s).id
        repo.start_processing(s, vid)
        repo.mark_failed(s, vid, code="not_media", reason="not a media file")
    with session_scope(sessions) as s:
        v = repo.get_video(s, vid)
        assert (v.state, v.failure_code, v.failure_reason) == ("failed", "not_media", "not a media file")
