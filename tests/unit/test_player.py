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
