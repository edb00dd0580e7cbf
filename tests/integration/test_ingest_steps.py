"""The pipeline steps without Airflow: limits, unexpected failures, and refusing half-made packages."""

import pytest

from catalog import videos as repo
from catalog.db import session_scope
from jobs import ingest
from jobs.ingest import IngestRun
from media.codecs import Codec
from media.samples import make_clip, unique_pattern
from media.transcode import EncodedRendition
from tests.pipeline import get_video as _video

H264_360P = EncodedRendition(name="h264-360p", kind="video", codec="h264", encoder="libx264",
                             playlist="h264/360p/index.m3u8", codecs="avc1.64001E")


def upload_and_validate(settings, sessions, store, path, *, run_prefix: str, **video) -> IngestRun:
    """A new video whose raw upload is ``path``, validated (probed, scanned) by a run of its own."""
    with session_scope(sessions) as s:
        created = repo.create_video(s, **video)
        repo.start_processing(s, created.id, run_id=f"{run_prefix}-{created.id}")
        vid, key = created.id, created.raw_key
    store.client.fput_object(settings.raw_bucket, key, str(path))
    run = IngestRun(settings, vid, f"{run_prefix}-{vid}")
    ingest.validate(run)
    return run


@pytest.fixture()
def uploaded(sessions, store, settings, clips):
    def make(clip: str = "landscape") -> str:
        with session_scope(sessions) as s:
            video = repo.create_video(s)
            repo.start_processing(s, video.id, run_id="steps")
            vid, key = video.id, video.raw_key
        store.client.fput_object(settings.raw_bucket, key, str(clips[clip]))
        return vid

    return make


def test_upload_over_the_size_limit_is_rejected_before_download(settings, sessions, uploaded, catalog_url):
    vid = uploaded()
    small = settings.model_copy(update={"max_upload_bytes": 1000})
    with pytest.raises(ingest.UploadRejected, match="too_large"):
        ingest.validate(IngestRun(small, vid, "steps"))
    video = _video(sessions, vid)
    assert (video.state, video.failure_code) == ("failed", "too_large")
    assert not (IngestRun(small, vid, "steps").work_dir / "source").exists()


def test_unexpected_failure_marks_processing_videos_only(settings, sessions, uploaded):
    vid = uploaded()
    ingest.mark_error(IngestRun(settings, vid, "steps"), "processing failed in step 'publish' (S3 down)")
    video = _video(sessions, vid)
    assert (video.state, video.failure_code) == ("failed", "processing_error")
    assert "publish" in video.failure_reason
    ingest.mark_error(IngestRun(settings, vid, "steps"), "again")  # already failed: left as it is
    assert _video(sessions, vid).failure_reason == video.failure_reason


def test_publish_refuses_without_a_finished_package(settings, store, uploaded):
    vid = uploaded()
    with pytest.raises(FileNotFoundError, match="transcode and package steps must run first"):
        ingest.publish(IngestRun(settings, vid, "never-transcoded"), ingest.Package(0, 2.0, ()))
    assert store.list_keys(settings.vod_bucket, f"v/{vid}/") == []


def test_steps_in_sequence_without_airflow(settings, sessions, store, uploaded, clips, tmp_path):
    # A clip of its own: the DAG tests publish the shared ones, and dedup would (rightly) refuse a re-upload.
    clips["steps"] = make_clip(tmp_path / "steps.mp4", width=360, height=640, seconds=3.0, audio=False,
                               pattern="cellauto:seed=9")
    vid = uploaded("steps")
    run = IngestRun(settings, vid, "seq")
    ingest.begin(run)  # the run owns the video, as the DAG's first task makes it
    source = ingest.validate(run)
    assert ingest.dedup(run).duplicate_of is None
    parts = [ingest.transcode(run, source, ingest.EncodeJob(Codec.H264, "libx264")),
             ingest.transcode_audio(run, source)]
    package = ingest.package(run, source, parts)
    assert [r.name for r in package.renditions] == ["h264-240p", "h264-360p"]  # no audio track, no audio
    publication = ingest.publish(run, package)
    ingest.mark_ready(run, publication)
    ingest.cleanup(run)
    video = _video(sessions, vid)
    assert video.state == "ready" and store.stat_size(settings.vod_bucket, video.master_key)
    assert not run.work_dir.exists()


def test_ffmpeg_engine_through_the_pipeline_steps(settings, sessions, store, uploaded, clips, tmp_path):
    engine = settings.model_copy(update={"transcode_engine": "ffmpeg", "codecs": ["h264", "av1"]})
    clips["ffmpeg_engine"] = make_clip(tmp_path / "ff.mp4", width=480, height=270, seconds=3.0,
                                       pattern="life:seed=21:mold=10")
    vid = uploaded("ffmpeg_engine")
    run = IngestRun(engine, vid, "ff")
    ingest.begin(run)
    source = ingest.validate(run)
    ingest.dedup(run)
    # Each codec goes through the binary when it has the encoder, else through PyAV (never a failed video).
    plan = ingest.plan_encodes(engine, (Codec.H264, Codec.AV1))
    parts = [ingest.transcode(run, source, job) for job in plan.cpu]
    parts.append(ingest.transcode_audio(run, source))
    package = ingest.package(run, source, parts)
    ingest.mark_ready(run, ingest.publish(run, package))
    video = _video(sessions, vid)
    assert video.state == "ready"
    assert {r.name for r in video.renditions} == {"h264-240p", "av1-240p", "audio"}


def test_package_refuses_a_video_a_parallel_step_rejected(settings, sessions, uploaded):
    # transcode[av1] rejected the upload while transcode[h264] and audio finished: nothing may be packaged.
    vid = uploaded()
    with session_scope(sessions) as s:
        repo.mark_failed(s, vid, code="corrupt", reason="the video stream breaks off at 2.1 s")
    with pytest.raises(ingest.UploadRejected, match="breaks off"):
        ingest.package(IngestRun(settings, vid, "steps"), None, [(H264_360P,)])
    assert not (IngestRun(settings, vid, "steps").work_dir / "hls" / "master.m3u8").exists()


def test_split_by_device_sends_nvenc_codecs_to_the_gpu_pool(settings, monkeypatch):
    monkeypatch.setattr(ingest.steps, "select_encoder",
                        lambda codec, allow_gpu: "h264_nvenc" if codec == "h264" and allow_gpu else f"sw-{codec}")
    assert ingest.split_by_device(settings, ["h264", "av1"]) == (["av1"], ["h264"])
    cpu_only = settings.model_copy(update={"allow_gpu_encoders": False})
    assert ingest.split_by_device(cpu_only, ["h264", "av1"]) == (["h264", "av1"], [])


def test_an_older_overlapping_run_cannot_win_the_switch(settings, sessions, uploaded):
    vid = uploaded()
    run_a, run_b = IngestRun(settings, vid, "run-a"), IngestRun(settings, vid, "run-b")
    ingest.begin(run_a)
    ingest.begin(run_b)  # a content team re-ran the video while run-a was still going
    older = ingest.Publication(prefix=f"v/{vid}/a", master_key=f"v/{vid}/a/master.m3u8", renditions=())
    newer = ingest.Publication(prefix=f"v/{vid}/b", master_key=f"v/{vid}/b/master.m3u8", renditions=())
    with pytest.raises(ingest.SupersededRun, match="superseded by run run-b"):
        ingest.mark_ready(run_a, older)
    assert _video(sessions, vid).master_key is None  # nothing switched
    ingest.mark_ready(run_b, newer)
    with pytest.raises(ingest.SupersededRun):  # run-a finishing even later still cannot switch it back
        ingest.mark_ready(run_a, older)
    video = _video(sessions, vid)
    assert (video.state, video.master_key) == ("ready", newer.master_key)


def test_inline_pipeline_publishes_even_when_the_embedding_fails(settings, sessions, uploaded, clips, tmp_path,
                                                                  monkeypatch, caplog):
    """The re-ladder batch's inline path matches the DAG: the embedding is not on the path to ready."""
    # A clip of its own: dedup would (rightly) refuse one another test published.
    clips["inline"] = make_clip(tmp_path / "inline.mp4", width=360, height=640, seconds=3.0, audio=False,
                                pattern=unique_pattern(7101))
    vid = uploaded("inline")

    def broken_embed(*_args, **_kwargs):
        raise RuntimeError("embedding model unavailable")

    monkeypatch.setattr(ingest.steps, "embed", broken_embed)
    assert ingest.run_inline(settings, vid, "inline-steps", codecs=["h264"]) == "ready"
    video = _video(sessions, vid)
    assert (video.state, video.failure_code) == ("ready", None)
    assert video.sound_id is None  # no audio track: no original sound
    assert {r.encoder for r in video.renditions if r.kind == "video"} == {"libx264"}
    assert "no content embedding for video" in caplog.text
    assert not IngestRun(settings, vid, "inline-steps").work_dir.exists()  # cleaned up all the same


def test_dedup_never_names_another_creator_s_private_video_and_forgets_deleted_ones(settings, sessions, store,
                                                                                    tmp_path):
    """A re-upload of someone else's private clip was rejected as "an exact copy of video <the private id>",
    and a creator's own deleted clip could never be uploaded again."""
    import secrets

    from catalog import users

    clip = make_clip(tmp_path / "mine.mp4", width=320, height=240, seconds=2.0, audio=False,
                     pattern=unique_pattern(17_003))
    with session_scope(sessions) as s:
        alice, bob = (users.create_user(s, handle=f"dd_{n}_{secrets.token_hex(4)}").id for n in ("a", "b"))

    def upload(creator: str, privacy: str = "public") -> IngestRun:
        with session_scope(sessions) as s:
            video = repo.create_video(s, creator_id=creator, privacy=privacy)
            repo.start_processing(s, video.id, run_id=f"dd-{video.id}")
            vid, key = video.id, video.raw_key
        store.client.fput_object(settings.raw_bucket, key, str(clip))
        run = IngestRun(settings, vid, f"dd-{vid}")
        ingest.validate(run)
        return run

    def publish(run: IngestRun) -> None:
        with session_scope(sessions) as s:
            repo.mark_ready(s, run.video_id, publish_prefix=f"v/{run.video_id}/p", renditions=[],
                            master_key=f"v/{run.video_id}/p/master.m3u8")

    private = upload(alice, "private")
    assert ingest.dedup(private).duplicate_of is None
    publish(private)
    # Bob holds the same file: his upload is not refused, and nothing tells him Alice's private video exists.
    copy = upload(bob)
    assert ingest.dedup(copy).duplicate_of is None
    assert _video(sessions, copy.video_id).failure_reason is None
    # Alice's own re-upload is caught, naming her video.
    again = upload(alice)
    with pytest.raises(ingest.UploadRejected, match=private.video_id):
        ingest.dedup(again)
    # Once she deleted it, she may upload it again.
    with session_scope(sessions) as s:
        repo.tombstone(s, private.video_id)
    assert ingest.dedup(upload(alice)).duplicate_of is None
    for run in (private, copy, again):
        ingest.cleanup(run)


def test_prohibited_media_is_rejected_even_re_encoded_and_its_entry_outlives_the_video(settings, sessions, store,
                                                                                        tmp_path, capsys):
    """An entry of the prohibited-media list (from a file, or from a taken-down video's fingerprint) rejects
    every upload that matches it, re-encoded, scaled and stamped with a logo, as ``prohibited``, without
    telling the uploader which entry or video; an unrelated clip passes."""
    from catalog import prohibited_media
    from media.samples import make_variant
    from reelflow.cli import main

    banned = make_clip(tmp_path / "banned.mp4", width=320, height=240, seconds=6.0, audio=False,
                       pattern=unique_pattern(31_337))
    edited = make_variant(banned, tmp_path / "edited.mp4", scale=0.75, logo=True, crf=30)
    other = make_clip(tmp_path / "other.mp4", width=320, height=240, seconds=3.0, audio=False,
                      pattern=unique_pattern(31_338))

    def upload(path) -> IngestRun:
        return upload_and_validate(settings, sessions, store, path, run_prefix="pm", privacy="public")

    # Before: nothing refuses it. Its fingerprint goes on the list (a moderator's takedown would do this).
    first = upload(banned)
    assert ingest.dedup(first).duplicate_of is None
    with session_scope(sessions) as s:
        entry = prohibited_media.add_video(s, first.video_id, reason="test: banned clip", added_by="test")
        repo.tombstone(s, first.video_id)  # the source video is gone; the entry stays
    runs = [first]
    for path in (banned, edited):
        run = upload(path)
        runs.append(run)
        with pytest.raises(ingest.UploadRejected, match="prohibited"):
            ingest.dedup(run)
        video = _video(sessions, run.video_id)
        assert video.state == "failed" and video.failure_code == "prohibited"
        assert first.video_id not in video.failure_reason and "banned" not in video.failure_reason
    clean = upload(other)
    runs.append(clean)
    assert ingest.dedup(clean).duplicate_of is None and _video(sessions, clean.video_id).failure_code is None

    # The operators' CLI: list shows the entry, remove lifts it, add FILE puts a file's fingerprint on.
    assert main(["prohibited", "list"]) == 0 and f"video {first.video_id}" in capsys.readouterr().out
    assert main(["prohibited", "remove", str(entry)]) == 0
    lifted = upload(edited)
    runs.append(lifted)
    assert ingest.dedup(lifted).duplicate_of is None
    assert main(["prohibited", "add", str(other), "--reason", "test: from a file"]) == 0
    assert main(["prohibited", "add", str(other)]) == 2  # a reason is required
    again = upload(other)
    runs.append(again)
    with pytest.raises(ingest.UploadRejected, match="prohibited"):
        ingest.dedup(again)
    for run in runs:
        ingest.cleanup(run)


def test_the_dedup_cli_explains_its_pairs_and_checks_the_catalog(settings, sessions, store, tmp_path, capsys):
    """`reelflow dedup pairs --json` keeps its keys (a, b, distance, duplicate) and says why; `dedup check`
    finds a mirrored, captioned re-post of a published video, and nothing for another clip."""
    import json

    from media.samples import make_variant
    from reelflow.cli import main

    clip = make_clip(tmp_path / "clip.mp4", width=320, height=240, seconds=4.0, audio=False,
                     pattern=unique_pattern(17_011))
    repost = make_variant(clip, tmp_path / "repost.mp4", mirror=True, caption="so true", crf=38)
    other = make_clip(tmp_path / "other.mp4", width=320, height=240, seconds=4.0, audio=False,
                      pattern=unique_pattern(17_012))

    assert main(["dedup", "pairs", str(clip), str(repost), str(other), "--json"]) == 0
    pairs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["a"], p["b"]) for p in pairs] == [(str(clip), str(repost))]
    assert pairs[0]["duplicate"] and pairs[0]["mirrored"] and pairs[0]["distance"] <= 64
    assert "mirrored" in pairs[0]["explanation"] and "sampled frames" in pairs[0]["explanation"]

    run = upload_and_validate(settings, sessions, store, clip, run_prefix="cli", privacy="public")
    vid = run.video_id
    assert ingest.dedup(run).duplicate_of is None
    with session_scope(sessions) as s:
        repo.mark_ready(s, vid, publish_prefix=f"v/{vid}/p", renditions=[], master_key=f"v/{vid}/p/master.m3u8")

    capsys.readouterr()
    assert main(["dedup", "check", str(repost), "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert vid in [h["video_id"] for h in hits]
    assert all(h["duplicate"] and h["mirrored"] for h in hits if h["video_id"] == vid)
    assert main(["dedup", "check", str(other)]) == 0
    assert "no published video among" in capsys.readouterr().out
    ingest.cleanup(run)


def test_an_upload_with_audio_becomes_an_original_sound_with_a_published_clip(settings, sessions, store, tmp_path):
    """Beside the audio encode, the first 60 s become an .m4a that publish uploads under the video's own prefix
    (where the edge's per-video rules cover it); a re-run re-points the sound to its new publication; an upload
    that named a sound, or has no audio, makes none."""
    import av

    from catalog import sounds
    from catalog import users as users_repo
    from catalog.models import Sound
    from tests.integration.feed_helpers import word

    handle = f"snd_{word(8)}"
    with session_scope(sessions) as s:
        creator = users_repo.create_user(s, handle=handle).id
    src = make_clip(tmp_path / "voice.mp4", width=320, height=240, seconds=2.5, audio=True,
                    pattern=unique_pattern(7207))
    run = upload_and_validate(settings, sessions, store, src, run_prefix="sound", creator_id=creator)
    assert ingest.run_inline(settings, run.video_id, "sound-1", codecs=["h264"]) == "ready"
    video = _video(sessions, run.video_id)
    with session_scope(sessions) as s:
        sound = s.get(Sound, video.sound_id)
        assert (sound.kind, sound.title, sound.creator_id, sound.original_video_id) == \
            ("original", f"original sound - @{handle}", creator, run.video_id)
        first_key, sound_id = sound.audio_key, sound.id
    assert first_key == f"{video.publish_prefix}/sound/clip.m4a"
    assert 2.0 <= sound.duration_s <= 2.6
    clip = tmp_path / "clip.m4a"
    store.client.fget_object(settings.vod_bucket, first_key, str(clip))
    with av.open(str(clip)) as f:
        assert f.streams.audio[0].codec_context.name == "aac" and not f.streams.video
    assert store.client.stat_object(settings.vod_bucket, first_key).content_type == "audio/mp4"

    # A re-run (a re-ladder) keeps the sound and moves its clip to the publication that serves now.
    assert ingest.run_inline(settings, run.video_id, "sound-2", codecs=["h264"]) == "ready"
    video = _video(sessions, run.video_id)
    with session_scope(sessions) as s:
        again = s.get(Sound, video.sound_id)
        assert again.id == sound_id and again.audio_key == f"{video.publish_prefix}/sound/clip.m4a" != first_key
        assert s.query(Sound).filter_by(original_video_id=run.video_id).count() == 1

    # Uploaded with that sound: the video uses it and makes no sound of its own.
    src2 = make_clip(tmp_path / "reuse.mp4", width=320, height=240, seconds=2.0, audio=True,
                     pattern=unique_pattern(7208))
    reuse = upload_and_validate(settings, sessions, store, src2, run_prefix="sound", creator_id=creator,
                                sound_id=sound_id)
    assert ingest.run_inline(settings, reuse.video_id, "sound-3", codecs=["h264"]) == "ready"
    with session_scope(sessions) as s:
        assert s.get(type(video), reuse.video_id).sound_id == sound_id
        assert not sounds.wants_original(s, reuse.video_id)
        assert s.query(Sound).filter_by(original_video_id=reuse.video_id).count() == 0
