"""Progressive publish through the steps, on real clips, PostgreSQL and the S3 server: the first H.264
rungs become playable alone, the rest of the ladder joins by the switch to the full master under the same
prefix, and nothing a player of the first master reads is rewritten or removed on the way."""

from __future__ import annotations

import m3u8
import pytest

from catalog import video_events
from catalog import videos as repo
from catalog.db import session_scope
from jobs import ingest
from jobs.ingest import EncodeJob, IngestRun
from media.codecs import Codec
from media.samples import make_clip, unique_pattern
from tests.pipeline import get_video as _video


@pytest.fixture()
def staged(settings, sessions, store, tmp_path):
    """A fresh 640x360 clip with audio, processing under its own run: 240p is the playable stage."""
    cfg = settings.model_copy(update={"playable_max_short_side": 240, "codecs": [Codec.H264, Codec.AV1]})

    def make(seed: int) -> tuple[IngestRun, ingest.Source]:
        clip = make_clip(tmp_path / f"p{seed}.mp4", width=640, height=360, seconds=3.0, audio=True,
                         pattern=unique_pattern(seed))
        with session_scope(sessions) as s:
            video = repo.create_video(s, caption="progressive")
            repo.start_processing(s, video.id, run_id=f"run-{seed}")
            vid, key = video.id, video.raw_key
        store.client.fput_object(cfg.raw_bucket, key, str(clip))
        run = IngestRun(cfg, vid, f"run-{seed}")
        ingest.begin(run)
        source = ingest.validate(run)
        ingest.dedup(run)
        return run, source

    return make


def _kinds(sessions, vid: str) -> list[str]:
    with session_scope(sessions) as s:
        return [e.kind for e in video_events.since(s, vid)]


def _master(store, bucket: str, key: str) -> m3u8.M3U8:
    return m3u8.loads(store.get(bucket, key).body.decode())


def test_the_first_rungs_play_first_and_the_rest_joins_by_the_switch(staged, settings, sessions, store):
    run, source = staged(16_001)
    plan = ingest.plan_encodes(run.settings, (Codec.H264, Codec.AV1), source.info)
    assert plan.first == EncodeJob(Codec.H264, "libx264", ("240p",))
    assert set(plan.cpu) == {EncodeJob(Codec.AV1, "libsvtav1"), EncodeJob(Codec.H264, "libx264", ("360p",))}
    assert plan.first.label == "h264 240p"

    first, audio = ingest.transcode_playable(run, source, plan.first)  # the audio on a thread beside
    assert [r.name for r in first] == ["h264-240p"] and [r.name for r in audio] == ["audio"]
    playable = ingest.release_playable(run, source, [first, audio])
    assert playable is not None and playable.master_key == f"{run.prefix}/playable.m3u8"
    video = _video(sessions, run.video_id)
    assert (video.state, video.master_key) == ("playable", playable.master_key) and video.playable_at
    assert {r.name for r in video.renditions} == {"h264-240p", "audio"}
    vod = run.settings.vod_bucket
    first_keys = set(store.list_keys(vod, f"{run.prefix}/"))
    assert {k.split("/", 3)[3].split("/")[0] for k in first_keys} == {"h264", "audio", "playable.m3u8"}
    assert not any("/360p/" in k for k in first_keys)
    first_master = _master(store, vod, playable.master_key)
    assert [p.stream_info.resolution for p in first_master.playlists] == [(426, 240)]
    assert first_master.media and first_master.media[0].type == "AUDIO"

    # The rest: H.264 360p and AV1, the thumbnails; then the full switch, uploading only what is new.
    rest = [ingest.transcode(run, source, job) for job in plan.cpu]
    thumbs = ingest.thumbnails(run, source)
    written: list[str] = []
    put_file = run.store.put_file

    def recording(bucket, key, path, **kw):
        written.append(key)
        return put_file(bucket, key, path, **kw)

    run.store.put_file = recording  # the run's own client: cached on the run
    ingest.release(run, source, [first, *rest, audio], thumbs)
    assert written and not (set(written) & first_keys), sorted(set(written) & first_keys)[:5]
    assert written[-1] == f"{run.prefix}/master.m3u8"  # the master last, as always

    video = _video(sessions, run.video_id)
    assert video.state == "ready" and video.master_key == f"{run.prefix}/master.m3u8"
    assert video.playable_at <= video.ready_at
    assert {r.name for r in video.renditions} == {"h264-240p", "h264-360p", "av1-240p", "av1-360p", "audio"}
    full = _master(store, vod, video.master_key)
    assert sorted(p.stream_info.resolution for p in full.playlists) == [(426, 240)] * 2 + [(640, 360)] * 2
    # The first master still reads the same, and everything it names is still there.
    assert store.get(vod, playable.master_key).body.decode() == first_master.dumps()
    for uri in [p.uri for p in first_master.playlists] + [m.uri for m in first_master.media]:
        media = m3u8.loads(store.get(vod, f"{run.prefix}/{uri}").body.decode())
        base = f"{run.prefix}/{uri.rsplit('/', 1)[0]}"
        for seg in media.segments:
            assert store.stat_size(vod, f"{base}/{seg.uri}")
    assert _kinds(sessions, run.video_id) == ["processing", "validated", "codec_encoded", "playable",
                                              "codec_encoded", "codec_encoded", "ready"]
    ingest.cleanup(run)


def test_a_failed_full_publish_leaves_the_first_master_serving(staged, sessions, store):
    run, source = staged(16_002)
    plan = ingest.plan_encodes(run.settings, (Codec.H264, Codec.AV1), source.info)
    first = ingest.transcode(run, source, plan.first, playable=True)
    audio = ingest.transcode_audio(run, source)
    playable = ingest.release_playable(run, source, [first, audio])
    vod = run.settings.vod_bucket
    before = set(store.list_keys(vod, f"{run.prefix}/"))
    rest = [ingest.transcode(run, source, job) for job in plan.cpu]
    put_file = run.store.put_file

    def flaky(bucket, key, path, **kw):
        if "/av1/" in key and key.endswith(".m3u8"):
            raise ConnectionError("origin went away")
        return put_file(bucket, key, path, **kw)

    run.store.put_file = flaky
    with pytest.raises(ConnectionError):
        ingest.release(run, source, [first, *rest, audio], None)
    # What this publication wrote is gone; what the playable stage published is all still there.
    assert set(store.list_keys(vod, f"{run.prefix}/")) == before
    assert _video(sessions, run.video_id).master_key == playable.master_key

    # After the retries the DAG's failure callback runs: the video keeps playing its first ladder, and the
    # creator hears why (a failed event that says it is still served).
    ingest.mark_error(run, "processing failed in step 'publish' (origin went away)")
    video = _video(sessions, run.video_id)
    assert (video.state, video.failure_code) == ("playable", "processing_error")
    assert "adding the other codecs failed" in video.failure_reason
    with session_scope(sessions) as s:
        last = video_events.since(s, run.video_id)[-1]
    assert (last.kind, last.detail["still_serving"]) == ("failed", True)
    # A refusal by a later step (a corrupt stretch only one decoder trips on) keeps it served as well.
    assert isinstance(run.reject("corrupt", "the AV1 encode hit a broken frame"), ingest.UploadRejected)
    video = _video(sessions, run.video_id)
    assert (video.state, video.failure_code) == ("playable", "corrupt")
    ingest.cleanup(run)


def test_a_rerun_of_a_watchable_video_has_no_playable_stage(staged, sessions):
    run, source = staged(16_003)
    plan = ingest.plan_encodes(run.settings, (Codec.H264,), source.info)
    first = ingest.transcode(run, source, plan.first, playable=True)
    audio = ingest.transcode_audio(run, source)
    ingest.release_playable(run, source, [first, audio])
    rest = [ingest.transcode(run, source, job) for job in plan.cpu]
    ingest.release(run, source, [first, *rest, audio], None)
    ready = _video(sessions, run.video_id)
    # A content team's re-run: the ready video keeps serving its publication until the re-run's full switch.
    rerun = IngestRun(run.settings, run.video_id, "rerun-16003")
    ingest.begin(rerun)
    source = ingest.validate(rerun)
    first = ingest.transcode(rerun, source, plan.first, playable=True)
    assert ingest.release_playable(rerun, source, [first, ingest.transcode_audio(rerun, source)]) is None
    video = _video(sessions, run.video_id)
    assert (video.state, video.master_key) == ("ready", ready.master_key)
    ingest.cleanup(run)
    ingest.cleanup(rerun)


def test_no_stage_when_it_is_off_or_without_h264(settings):
    from media.probe import SourceInfo

    info = SourceInfo.from_dict({"container": "mp4", "size_bytes": 1_000_000, "duration_s": 4.0, "width": 1920,
                                 "height": 1080, "fps": "30", "video_codec": "h264", "rotation": 0, "audio": None,
                                 "bit_rate": 4_000_000, "pix_fmt": "yuv420p"})
    off = settings.model_copy(update={"playable_max_short_side": 0})
    assert ingest.plan_encodes(off, (Codec.H264, Codec.AV1), info).first is None
    assert ingest.plan_encodes(settings, (Codec.AV1,), info).first is None
    # Every H.264 rung under the cap: the first job is the whole H.264 ladder, and no H.264 is left for later.
    wide = settings.model_copy(update={"playable_max_short_side": 4000})
    plan = ingest.plan_encodes(wide, (Codec.H264, Codec.AV1), info)
    assert plan.first == EncodeJob(Codec.H264, "libx264") and [j.codec for j in plan.cpu] == [Codec.AV1]
