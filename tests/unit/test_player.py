import m3u8
import pytest

from delivery.player import PlaybackError, choose_variant

MASTER = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2"
1080p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001E,mp4a.40.2"
360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2900000,RESOLUTION=1280x720,CODECS="avc1.64001F,mp4a.40.2"
720p/index.m3u8
"""


@pytest.mark.parametrize("budget,uri", [(3_000_000, "720p/index.m3u8"), (10_000_000, "1080p/index.m3u8"),
                                        (100_000, "360p/index.m3u8")])
def test_start_variant_is_the_richest_that_fits_else_the_leanest(budget, uri):
    assert choose_variant(m3u8.loads(MASTER), budget).uri == uri


def test_a_master_without_variants_is_an_error():
    with pytest.raises(PlaybackError, match="no variants"):
        choose_variant(m3u8.loads("#EXTM3U\n"), 1_000_000)


MULTI = """#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="alt",DEFAULT=NO,URI="audio/alt.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="main",DEFAULT=YES,URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=2900000,RESOLUTION=1280x720,CODECS="avc1.64001F,mp4a.40.2",AUDIO="aud"
h264/720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001E,mp4a.40.2",AUDIO="aud"
h264/360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1500000,RESOLUTION=1280x720,CODECS="av01.0.05M.08,mp4a.40.2",AUDIO="aud"
av1/720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS="dvh1.05.06,ec-3",AUDIO="aud"
dv/720p/index.m3u8
"""


def test_playable_variants_skip_unsupported_codecs_and_keep_one_family_ascending():
    from delivery.player import playable_variants

    master = m3u8.loads(MULTI)
    assert [p.uri for p in playable_variants(master)] == ["h264/360p/index.m3u8", "h264/720p/index.m3u8"]
    av1_first = playable_variants(master, preference=("av1", "avc"))
    assert [p.uri for p in av1_first] == ["av1/720p/index.m3u8"]
    only_av1 = playable_variants(master, supported={"av01", "mp4a"})
    assert [p.uri for p in only_av1] == ["av1/720p/index.m3u8"]


def test_a_master_with_nothing_playable_names_what_it_offers():
    from delivery.player import playable_variants

    dolby_only = m3u8.loads('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000,CODECS="dvh1.05.06,ec-3"\ndv.m3u8\n')
    with pytest.raises(PlaybackError, match=r"no playable variant.*dvh1\.05\.06,ec-3.*decodes av01, avc1"):
        playable_variants(dolby_only)


def test_a_variant_without_codecs_is_assumed_playable():
    from delivery.player import playable_variants

    master = m3u8.loads("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\nlow.m3u8\n")
    assert [p.uri for p in playable_variants(master)] == ["low.m3u8"]


def test_audio_rendition_prefers_the_default_of_the_variants_group():
    from delivery.player import audio_rendition_uri

    master = m3u8.loads(MULTI)
    assert audio_rendition_uri(master, master.playlists[0]) == "audio/index.m3u8"
    muxed = m3u8.loads(MASTER)
    assert audio_rendition_uri(muxed, muxed.playlists[0]) is None


@pytest.mark.parametrize("body,problem", [
    (b"#EXTM3U\n#EXTINF:2.0,\nseg.m4s\n", "is a media playlist"),
    (b"\x00\xff\xfe garbage", "not a playlist"),
    (b"<html>not found</html>", "not a playlist, not a master"),
])
def test_parse_master_refuses_what_is_not_a_master(body, problem):
    from delivery.player import parse_master

    with pytest.raises(PlaybackError, match=problem):
        parse_master(body, "https://edge/vod/x/master.m3u8")


@pytest.mark.parametrize("url", ["http://localhost:8443/vod/m.m3u8", "not a url", "https:///nohost",
                                 "https://h:99999/x"])
def test_the_player_needs_an_https_url(url):
    from delivery.fetch import check_https_url

    with pytest.raises(PlaybackError):
        check_https_url(url)
