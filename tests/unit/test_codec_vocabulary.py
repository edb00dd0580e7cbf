"""One codec vocabulary: media.codecs parses codec names for settings, the CLI, the DAG params and the encoders,
and refuses the same names everywhere with the same sentence."""

import copy
import json
from fractions import Fraction

import pytest
from pydantic import ValidationError

from config.settings import Settings
from media.codecs import CODEC_NAMES, Codec, UnknownCodec, parse_codecs
from media.encoders import NVENC, SOFTWARE, select_encoder
from media.limits import Limits
from reelflow.cli import main


def test_names_are_parsed_once_for_everyone():
    assert parse_codecs("h264, AV1 ,h264") == (Codec.H264, Codec.AV1)  # order kept, repeats dropped
    assert parse_codecs(["hevc"]) == (Codec.HEVC,)
    assert json.dumps(list(parse_codecs("av1"))) == '["av1"]'  # its own JSON / XCom / conf value
    assert set(SOFTWARE) == set(NVENC) == set(Codec) and CODEC_NAMES == ("h264", "hevc", "av1")


@pytest.mark.parametrize("names,problem", [
    ("h265", "unknown codec 'h265'; Reelflow encodes h264, hevc, av1"),
    (["h264", "vp9"], "unknown codec 'vp9'"),
    ("", "name at least one codec of h264, hevc, av1"),
    ([" ", ""], "name at least one codec"),
])
def test_unknown_or_empty_names_are_refused_naming_the_choices(names, problem):
    with pytest.raises(UnknownCodec, match=problem):
        parse_codecs(names)


def test_settings_and_encoders_take_the_same_vocabulary(monkeypatch):
    assert Settings(codecs=["AV1", "h264"], gpu_codecs="hevc").codecs == [Codec.AV1, Codec.H264]
    assert Settings(codec_max_short_side={"AV1": 480}).codec_max_short_side == {Codec.AV1: 480}
    for field, value in [("codecs", ["h265"]), ("gpu_codecs", []), ("codec_max_short_side", {"vp9": 360})]:
        with pytest.raises(ValidationError, match=rf"{field}[\s\S]*(unknown codec|at least one codec)"):
            Settings(**{field: value})
    monkeypatch.setenv("REELFLOW_CODECS", '["hevc"]')
    assert Settings().codecs == [Codec.HEVC]
    with pytest.raises(UnknownCodec, match="unknown codec 'h265'"):
        select_encoder("h265")
    assert select_encoder("H264", allow_gpu=False) == "libx264"


@pytest.mark.parametrize("argv", [["reprocess", "0123456789abcdef", "--codecs", "h265"],
                                  ["reladder", "--codecs", "h264,vp9"],
                                  ["reladder", "--missing-codec", "h265"]])
def test_the_cli_refuses_unknown_codecs_before_anything_runs(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "h265" in err or "vp9" in err
    assert "h264" in err and "av1" in err  # the choices are named


def test_transcode_cli_refuses_an_unknown_codec(tmp_path, capsys):
    assert main(["transcode", str(tmp_path / "missing.mp4"), str(tmp_path / "out"), "--codecs", "h265"]) == 2
    assert "unknown codec 'h265'; Reelflow encodes h264, hevc, av1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_dag_params_refuse_unknown_codecs_at_trigger_time():
    from airflow.sdk.exceptions import ParamValidationError

    from tests.pipeline import load_dag_module

    for name, conf in [("ingest_video", {"video_id": "0123456789abcdef"}), ("reladder_catalog", {})]:
        dag = getattr(load_dag_module(name, f"{name}_codec_params"), name.upper())
        for codecs, problem in [(["h264", "av1"], None), (["h265"], "'h265' is not one of"),
                                ([], "should be non-empty")]:
            params = copy.deepcopy(dag.params)  # as Airflow does when a run is created with this conf
            if problem is None:
                params.update({**conf, "codecs": codecs})
                params.validate()
                continue
            with pytest.raises(ParamValidationError, match=f"param codecs: .*{problem}"):
                params.update({**conf, "codecs": codecs})
                params.validate()


def test_settings_take_the_upload_limits_from_the_media_core():
    core, settings = Limits(), Settings().upload_limits
    assert settings == core  # the defaults are the core's, not a copy that could drift
    tighter = Settings(max_duration_s=60, max_upload_bytes=1 << 20).upload_limits
    assert (tighter.max_duration_s, tighter.max_bytes, tighter.max_fps) == (60, 1 << 20, core.max_fps)
    ladder = Settings(ladder_short_sides=[720, 360], segment_seconds=4).ladder
    assert (ladder.short_sides, ladder.segment_seconds) == ((360, 720), 4)


def test_step_results_round_trip_through_json_only_at_the_dag_edge():
    from jobs.ingest import EncodeJob, Source, Thumbnails, renditions_from_json, renditions_to_json
    from jobs.ingest.results import ScanStats
    from media.probe import AudioInfo, SourceInfo
    from media.transcode import EncodedRendition

    info = SourceInfo(container="mov,mp4", size_bytes=1000, duration_s=3.0, video_codec="h264", width=640,
                      height=360, fps=Fraction(30000, 1001), pix_fmt="yuv420p", bit_rate=None,
                      audio=AudioInfo(codec="aac", sample_rate=48000, channels=2), rotation=90)
    source = Source(info, ScanStats(frames=90, decode_errors=0, variable_frame_rate=False, samples=3))
    assert Source.from_json(json.loads(json.dumps(source.to_json()))) == source
    job = EncodeJob(Codec.AV1, "libsvtav1")
    assert EncodeJob.from_json(json.loads(json.dumps(job.to_json()))) == job
    thumbs = Thumbnails("thumbs/poster.jpg", "thumbs/sprite.vtt", 1.5)
    assert Thumbnails.from_json(json.loads(json.dumps(thumbs.to_json()))) == thumbs
    assert Thumbnails.from_json(None) is None
    rendition = EncodedRendition(name="av1-360p", kind="video", codec="av1", encoder="libsvtav1",
                                 playlist="av1/360p/index.m3u8", codecs="av01.0.05M.08", width=640, height=360,
                                 frame_rate=Fraction(30000, 1001))
    assert renditions_from_json(json.loads(json.dumps(renditions_to_json((rendition,))))) == (rendition,)
    assert renditions_from_json(None) == ()
