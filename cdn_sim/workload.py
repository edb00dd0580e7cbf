"""Seeded synthetic request traces of short-video viewing, built with NumPy (millions of requests in seconds).

A *view* is one viewer watching one video in their feed. The player fetches the master playlist, one
video rendition's media playlist and init segment, the audio playlist and init segment, then video and
audio segments in pairs until the viewer swipes away (plus one segment of read-ahead). Which video:

* **back catalog**: Zipf(``zipf_alpha``) popularity over ``videos`` existing videos;
* **new uploads** (churn): ``uploads`` videos published during the trace (some shortly before it
  starts). Each gets its own Zipf(``upload_zipf_alpha``, default ``zipf_alpha``) weight and a
  popularity curve over its age: exponential decay (``upload_decay_s``) by default, or with
  ``upload_rise_s`` > 0 a *rise and fade*, ``(1 - exp(-age / rise)) * exp(-age / decay)``, which
  climbs for about ``rise`` and peaks at ``rise * ln(1 + decay / rise)``. Together they draw
  ``new_share`` of all views, which is how feeds push fresh content;
* **flash crowd** (optional): one new video that goes viral at ``flash_at`` of the trace and draws
  ``flash_share`` of all views, decaying over ``flash_decay_s``.

Request rates follow a day/night cycle per region (a cosine peaking at ``peak_hour`` local time, each
region shifted by its UTC offset); a view's region is drawn from the regions' rates at its time.
Every video has a home region; ``local_share`` of views choose among their own region's videos only
(same popularity order), the rest among all, as language and local creators make popularity regional.

Objects are identified by integers: ``video * STRIDE + slot`` (see :func:`object_id`), so the video of
any request is ``obj // STRIDE`` and a purge of a video is a range of ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Variant:
    name: str
    bitrate_bps: int
    share: float  # share of views that pick it (0 for audio, which every view fetches)


# The ladder Reelflow publishes (README): H.264 360p-1080p, AV1 up to 720p, one AAC group. Rendition
# shares: phones on mobile networks mostly settle on 720p; AV1 where the device decodes it (~35 %).
VARIANTS: tuple[Variant, ...] = (
    Variant("h264_360p", 500_000, 0.065),
    Variant("h264_480p", 850_000, 0.16),
    Variant("h264_720p", 2_800_000, 0.325),
    Variant("h264_1080p", 5_000_000, 0.10),
    Variant("av1_360p", 300_000, 0.035),
    Variant("av1_480p", 500_000, 0.09),
    Variant("av1_720p", 1_600_000, 0.225),
    Variant("aac", 128_000, 0.0),
)
AUDIO = len(VARIANTS) - 1
MAX_DURATION_S = 180.0  # the upload limit (settings.max_duration_s)
SEGMENT_S = 2.0
MAX_SEGMENTS = math.ceil(MAX_DURATION_S / SEGMENT_S)
_PER_VARIANT = 2 + MAX_SEGMENTS  # media playlist, init segment, segments
STRIDE = 1 + len(VARIANTS) * _PER_VARIANT  # master playlist + every variant's objects


def object_id(video: np.ndarray | int, variant: np.ndarray | int, item: np.ndarray | int) -> np.ndarray | int:
    """Object id of ``item`` (-2 = master playlist, -1 = media playlist, 0 = init, 1.. = segment 1..)
    of ``variant`` of ``video``. The master ignores ``variant``."""
    item = np.asarray(item)
    slot = np.where(item == -2, 0, 1 + np.asarray(variant) * _PER_VARIANT + item + 1)
    out = np.asarray(video, dtype=np.int64) * STRIDE + slot
    return int(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class Region:
    name: str
    utc_offset_h: float
    weight: float  # share of the daily traffic


DEFAULT_REGIONS: tuple[Region, ...] = (Region("eu", 1.0, 0.30), Region("us", -5.0, 0.35), Region("ap", 8.0, 0.35))


@dataclass(frozen=True)
class WorkloadConfig:
    """Knobs of the synthetic workload; the defaults are what ``reelflow cdn simulate`` uses.

    The default is a scale model: two days (the simulator warms the caches on the first), about
    75 k views a day over a 500-video active catalog plus 125 uploads a day. Hit ratios depend on
    views per video and on cache bytes per catalog byte, not on absolute traffic, so traffic and
    catalog are scaled down together: ~100 views per viewed video per day. (Doubling requests,
    videos, uploads and cache sizes together moves the hit ratios by about 0.1 point.)
    """

    requests: int = 2_000_000  # about; whole views are kept, so the trace ends a little short
    videos: int = 500  # back catalog the feed serves from
    zipf_alpha: float = 0.9
    duration_s: float = 2 * 86_400.0
    uploads: int = 250  # published during the trace: a quarter of the catalog's size per day
    new_share: float = 0.3  # share of views that go to those uploads
    upload_decay_s: float = 6 * 3600.0  # mean age of a new upload's views
    upload_rise_s: float = 0.0  # > 0: popularity rises over about this long before it fades
    upload_zipf_alpha: float | None = None  # skew among uploads (None: zipf_alpha)
    flash_crowd: bool = False
    flash_share: float = 0.05
    flash_at: float = 0.75  # fraction of the trace at which the viral video appears (mid measured day)
    flash_decay_s: float = 1800.0
    regions: tuple[Region, ...] = DEFAULT_REGIONS
    diurnal_amplitude: float = 0.6  # peak:trough = (1 + a) : (1 - a), 4:1 here
    peak_hour: float = 21.0  # local time of the evening peak
    median_duration_s: float = 20.0  # video length: log-normal, clipped to 5-180 s
    duration_sigma: float = 0.6
    swipe_share: float = 0.45  # views abandoned during the first segment
    keep_watching: float = 0.8  # otherwise, chance of watching on after each further segment
    read_ahead: int = 1  # segments the player fetches beyond the one playing
    local_share: float = 0.5  # views that pick among videos from the viewer's own region
    views_per_client: int = 25  # one session: a client's views all go to one POP
    seed: int = 1

    def __post_init__(self) -> None:
        if not self.zipf_alpha > 0:
            raise ValueError(f"zipf_alpha must be > 0, got {self.zipf_alpha}")
        if self.requests < 1 or self.videos < 1:
            raise ValueError("requests and videos must be at least 1")
        if self.uploads < 0:
            raise ValueError("uploads cannot be negative")
        if self.upload_rise_s < 0 or not self.upload_decay_s > 0:
            raise ValueError("upload_rise_s must be >= 0 and upload_decay_s > 0")
        if self.upload_zipf_alpha is not None and not self.upload_zipf_alpha > 0:
            raise ValueError(f"upload_zipf_alpha must be > 0, got {self.upload_zipf_alpha}")
        if not self.duration_s > 0:
            raise ValueError("duration_s must be positive")
        for name in ("new_share", "flash_share", "swipe_share", "keep_watching", "flash_at", "local_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.new_share + (self.flash_share if self.flash_crowd else 0) > 1:
            raise ValueError("new_share + flash_share cannot exceed 1")
        if self.new_share > 0 and self.uploads == 0:
            raise ValueError("new_share > 0 needs uploads > 0")
        if not 0 <= self.diurnal_amplitude < 1:
            raise ValueError("diurnal_amplitude must be in [0, 1)")
        if not self.regions or min(r.weight for r in self.regions) <= 0:
            raise ValueError("regions need positive weights")
        if self.read_ahead < 0 or self.views_per_client < 1:
            raise ValueError("read_ahead must be >= 0 and views_per_client >= 1")


WORKLOADS: tuple[str, ...] = ("default", "short-video")


def short_video_config(**overrides: object) -> WorkloadConfig:
    """The short-video workload: most objects are requested once, popular uploads rise and fade in hours.

    The generative model is :func:`generate`'s with the weight moved to a torrent of new uploads, as on
    a short-video app where most of the feed is fresh: 70 % of views go to 30,000 uploads published over
    the two days (15,000 a day against a 500-video back catalog). Upload popularity is Zipf(1.1): a few
    take off and most are seen a handful of times, at one POP, and never again, so most of their objects
    are one-hit wonders. Each upload's popularity rises over ``upload_rise_s`` (1 h) and fades with
    ``upload_decay_s`` (3 h): it peaks about 1.4 h after publication and is gone within hours. Everything
    else (views per day, regions, day/night, renditions, swipes) is the default workload's.
    """
    base: dict[str, object] = {"uploads": 30_000, "new_share": 0.7, "upload_zipf_alpha": 1.1,
                               "upload_rise_s": 3600.0, "upload_decay_s": 3 * 3600.0, "seed": 1}
    base.update(overrides)
    return WorkloadConfig(**base)  # type: ignore[arg-type]


def workload_config(name: str, **overrides: object) -> WorkloadConfig:
    """A named workload (:data:`WORKLOADS`) with ``overrides`` applied."""
    if name == "default":
        return WorkloadConfig(**overrides)  # type: ignore[arg-type]
    if name == "short-video":
        return short_video_config(**overrides)
    raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")


@dataclass(frozen=True)
class Trace:
    """Requests in time order (parallel arrays) and what is needed to interpret them."""

    time_s: np.ndarray  # float64
    region: np.ndarray  # int8, index into ``regions``
    client: np.ndarray  # int64; the same client always reaches the same POP
    obj: np.ndarray  # int64 object id
    size: np.ndarray  # int64 bytes
    regions: tuple[str, ...]
    video_upload_s: np.ndarray  # per video: publication time (-inf for the back catalog)
    video_duration_s: np.ndarray  # per video
    flash_video: int = -1  # the viral video, -1 without a flash crowd
    views: int = 0
    catalog_bytes: int = 0  # every object of every video, requested or not (expected value)
    config: WorkloadConfig | None = field(default=None, compare=False)
    video_complexity: np.ndarray | None = field(default=None, compare=False, repr=False)  # per video, bit rate scale

    def __len__(self) -> int:
        return len(self.obj)

    @property
    def video(self) -> np.ndarray:
        """The video of each request (the object -> video mapping purge-like analyses need)."""
        return self.obj // STRIDE

    def footprint_bytes(self) -> int:
        """Bytes of the distinct objects the trace requests (what an infinite cache would hold)."""
        _, first = np.unique(self.obj, return_index=True)
        return int(self.size[first].sum())


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fixed pseudo-random function of the id, so an object's size never varies."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _unit(x: np.ndarray, salt: int) -> np.ndarray:
    """Uniform (0, 1) from an id."""
    return ((mix64(x.astype(np.uint64) ^ np.uint64(salt)) >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def _zipf_sampler(n: int, alpha: float, rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` ranks in [0, n), rank r drawn with weight (r + 1) ** -alpha."""
    cdf = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** -alpha)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(count), side="right"), n - 1)


def _region_rates(cfg: WorkloadConfig, t: np.ndarray) -> np.ndarray:
    """Relative request rate of each region at UTC seconds ``t``; shape (len(t), regions)."""
    local_h = t[:, None] / 3600.0 + np.array([r.utc_offset_h for r in cfg.regions])[None, :]
    weights = np.array([r.weight for r in cfg.regions])[None, :]
    return weights * (1 + cfg.diurnal_amplitude * np.cos(2 * np.pi * (local_h - cfg.peak_hour) / 24.0))


def _diurnal_times(cfg: WorkloadConfig, rng: np.random.Generator, count: int) -> np.ndarray:
    """Times in [0, duration) with density proportional to the total rate of all regions."""
    grid = np.linspace(0.0, cfg.duration_s, max(2, int(cfg.duration_s / 60) + 1))
    rate = _region_rates(cfg, grid).sum(axis=1)
    cum = np.concatenate([[0.0], np.cumsum((rate[1:] + rate[:-1]) / 2)])
    return np.interp(rng.random(count) * cum[-1], cum, grid)


def _pick_regions(cfg: WorkloadConfig, rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    rates = _region_rates(cfg, t)
    cum = np.cumsum(rates, axis=1)
    u = rng.random(len(t))[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), len(cfg.regions) - 1).astype(np.int8)


def upload_popularity(age_s: np.ndarray, cfg: WorkloadConfig) -> np.ndarray:
    """Relative popularity of a new upload at ``age_s`` (see the module docstring): exponential decay, or
    with ``upload_rise_s`` a rise and fade. Exactly the old decay when ``upload_rise_s`` is 0."""
    fade = np.exp(-age_s / cfg.upload_decay_s)
    if cfg.upload_rise_s <= 0:
        return fade
    return -np.expm1(-age_s / cfg.upload_rise_s) * fade


def _new_upload_videos(cfg: WorkloadConfig, rng: np.random.Generator, t: np.ndarray, local_to: np.ndarray,
                       upload_s: np.ndarray, weight: np.ndarray, home: np.ndarray) -> np.ndarray:
    """For views at times ``t``, an upload published before ``t`` with weight * exp(-age / decay),
    restricted to uploads whose home region is ``local_to`` where that is >= 0.

    Done per 15-minute bucket (weights at the bucket start), which keeps it vectorised. -1 where
    nothing eligible was published yet (the caller sends those views to the back catalog).
    """
    out = np.full(len(t), -1, dtype=np.int64)
    bucket_s = 900.0
    group = (t // bucket_s).astype(np.int64) * (len(cfg.regions) + 1) + local_to + 1
    order = np.argsort(group, kind="stable")
    groups, starts = np.unique(group[order], return_index=True)
    for g, lo, hi in zip(groups.tolist(), starts.tolist(), [*starts[1:].tolist(), len(t)], strict=True):
        idx = order[lo:hi]
        bucket, local = divmod(g, len(cfg.regions) + 1)
        age = bucket * bucket_s - upload_s
        eligible = (age >= 0) & ((home == local - 1) if local else True)
        w = np.where(eligible, weight * upload_popularity(np.maximum(age, 0), cfg), 0.0)
        if w.sum() == 0:
            continue
        cdf = np.cumsum(w)
        out[idx] = np.minimum(np.searchsorted(cdf, rng.random(len(idx)) * cdf[-1], side="right"), len(w) - 1)
    return out


def generate(cfg: WorkloadConfig | None = None) -> Trace:
    """A :class:`Trace` for ``cfg``; the same config (seed included) always gives the same trace."""
    cfg = cfg or WorkloadConfig()
    rng = np.random.default_rng(cfg.seed)
    n_videos = cfg.videos + cfg.uploads + (1 if cfg.flash_crowd else 0)

    # Per video: length, encoding complexity (scales every video bit rate), publication time.
    duration = np.clip(cfg.median_duration_s * np.exp(cfg.duration_sigma * rng.standard_normal(n_videos)),
                       5.0, MAX_DURATION_S)
    complexity = np.exp(0.3 * rng.standard_normal(n_videos) - 0.045)  # mean 1
    upload_s = np.full(n_videos, -np.inf)
    # New uploads: spread over the trace, plus a decay time's worth before it, so it starts in steady state.
    upload_s[cfg.videos:cfg.videos + cfg.uploads] = rng.uniform(-cfg.upload_decay_s, cfg.duration_s, cfg.uploads)
    flash_video = n_videos - 1 if cfg.flash_crowd else -1
    if cfg.flash_crowd:
        upload_s[flash_video] = cfg.flash_at * cfg.duration_s
    catalog_rank_to_video = rng.permutation(cfg.videos)
    region_weights = np.array([r.weight for r in cfg.regions])
    home = rng.choice(len(cfg.regions), size=n_videos, p=region_weights / region_weights.sum())
    upload_alpha = cfg.zipf_alpha if cfg.upload_zipf_alpha is None else cfg.upload_zipf_alpha
    upload_weight = rng.permutation(np.arange(1, cfg.uploads + 1, dtype=np.float64) ** -upload_alpha)

    # Views: oversample, then keep a prefix of whole views that fits the request budget. Every
    # attribute is drawn independently per view, so the prefix is an unbiased subsample.
    n_segments = np.ceil(duration / SEGMENT_S).astype(np.int64)
    mean_segments = 1 + cfg.read_ahead + (1 - cfg.swipe_share) / (1 - cfg.keep_watching + 1e-9)
    n_views = int(cfg.requests / (5 + 2 * min(mean_segments, n_segments.mean())) * 1.5) + 16
    flash = cfg.flash_share if cfg.flash_crowd else 0.0
    u = rng.random(n_views)  # 0 back catalog, 1 new upload, 2 the viral video
    kind = np.where(u < 1 - cfg.new_share - flash, 0, np.where(u < 1 - flash, 1, 2))
    t = _diurnal_times(cfg, rng, n_views)
    fl = kind == 2
    if fl.any():
        # Truncated exponential after the flash start (the spike overrides the daily rhythm).
        start = cfg.flash_at * cfg.duration_s
        span = max(cfg.duration_s - start, 1e-3)
        u = rng.random(int(fl.sum()))
        t[fl] = start - cfg.flash_decay_s * np.log1p(-u * (1 - math.exp(-span / cfg.flash_decay_s)))
        t[fl] = np.minimum(t[fl], np.nextafter(cfg.duration_s, 0))
    region = _pick_regions(cfg, rng, t)
    # A local view picks among videos from the viewer's own region (language, local creators).
    local_to = np.where(rng.random(n_views) < cfg.local_share, region, -1).astype(np.int64)

    video = np.full(n_views, flash_video, dtype=np.int64)
    new = np.flatnonzero(kind == 1)
    if len(new):
        picked = _new_upload_videos(cfg, rng, t[new], local_to[new], upload_s[cfg.videos:cfg.videos + cfg.uploads],
                                    upload_weight, home[cfg.videos:cfg.videos + cfg.uploads])
        video[new] = cfg.videos + picked
        kind[new[picked < 0]] = 0  # nothing eligible published yet: the view goes to the back catalog
    for r in range(-1, len(cfg.regions)):
        # Back catalog: Zipf over global ranks, restricted to the region's own videos for local views.
        idx = np.flatnonzero((kind == 0) & (local_to == r))
        ranks = np.arange(cfg.videos) if r < 0 else np.flatnonzero(home[catalog_rank_to_video] == r)
        ranked = catalog_rank_to_video[ranks]
        if len(idx) and len(ranked):
            cdf = np.cumsum((ranks + 1.0) ** -cfg.zipf_alpha)
            pick = np.searchsorted(cdf, rng.random(len(idx)) * cdf[-1], side="right")
            video[idx] = ranked[np.minimum(pick, len(ranked) - 1)]
        elif len(idx):  # no video from this region: fall back to the global ranking
            video[idx] = catalog_rank_to_video[_zipf_sampler(cfg.videos, cfg.zipf_alpha, rng, len(idx))]

    # Rendition by device and network; segments fetched by how long the viewer stays.
    shares = np.array([v.share for v in VARIANTS[:AUDIO]])
    variant = np.searchsorted(np.cumsum(shares / shares.sum()), rng.random(n_views), side="right").clip(0, AUDIO - 1)
    extra = np.where(rng.random(n_views) < cfg.swipe_share, 0,
                     rng.geometric(1 - cfg.keep_watching, n_views) if cfg.keep_watching < 1 else MAX_SEGMENTS)
    fetched = np.minimum(1 + extra + cfg.read_ahead, n_segments[video])

    per_view = 5 + 2 * fetched
    keep = int(np.searchsorted(np.cumsum(per_view), cfg.requests, side="right"))
    keep = max(keep, 1)
    t, video, region, variant, fetched, per_view = (a[:keep] for a in (t, video, region, variant, fetched, per_view))
    client_count = max(1, keep // cfg.views_per_client)
    client = rng.integers(0, client_count, keep) * len(cfg.regions) + region  # a client stays in its region

    # Expand views into requests: 5 playlists/inits, then (video, audio) segment pairs.
    total = int(per_view.sum())
    view_of = np.repeat(np.arange(keep), per_view)
    pos = np.arange(total) - np.repeat(np.cumsum(per_view) - per_view, per_view)  # index within the view
    head_item = np.array([-2, -1, 0, -1, 0])  # master, video playlist, video init, audio playlist, audio init
    head_audio = np.array([False, False, False, True, True])
    is_head = pos < 5
    seg_pos = np.maximum(pos - 5, 0)
    item = np.where(is_head, head_item[np.minimum(pos, 4)], 1 + seg_pos // 2)
    audio = np.where(is_head, head_audio[np.minimum(pos, 4)], seg_pos % 2 == 1)
    req_variant = np.where(audio, AUDIO, variant[view_of])
    req_video = video[view_of]
    obj = object_id(req_video, req_variant, item)
    # The player asks for the next segment when playback reaches the one before it.
    offset = np.where(is_head, 0.02 * pos, 0.1 + np.maximum(item - 1 - cfg.read_ahead, 0) * SEGMENT_S)
    time_s = t[view_of] + offset

    size = _object_sizes(obj, req_video, req_variant, item, duration, complexity)
    order = np.argsort(time_s, kind="stable")
    catalog_bytes = int(sum(v.bitrate_bps / 8 * float(np.sum(duration * (1.0 if i == AUDIO else complexity)))
                            for i, v in enumerate(VARIANTS)))
    return Trace(time_s=time_s[order], region=region[view_of][order], client=client[view_of][order], obj=obj[order],
                 size=size[order], regions=tuple(r.name for r in cfg.regions), video_upload_s=upload_s,
                 video_duration_s=duration, flash_video=flash_video, views=keep, catalog_bytes=catalog_bytes,
                 config=cfg, video_complexity=complexity)


def object_sizes(trace: Trace, obj: np.ndarray) -> np.ndarray:
    """Bytes of any objects of the trace's videos, requested or not (a push may send never-requested ones)."""
    if trace.video_complexity is None:
        raise ValueError("this trace does not carry its videos' complexity (build it with generate())")
    obj = np.asarray(obj, dtype=np.int64)
    video, slot = np.divmod(obj, STRIDE)
    variant = np.where(slot == 0, 0, (slot - 1) // _PER_VARIANT)
    item = np.where(slot == 0, -2, (slot - 1) % _PER_VARIANT - 1)
    return _object_sizes(obj, video, variant, item, trace.video_duration_s, trace.video_complexity)


def _object_sizes(obj: np.ndarray, video: np.ndarray, variant: np.ndarray, item: np.ndarray,
                  duration: np.ndarray, complexity: np.ndarray) -> np.ndarray:
    """Bytes of each requested object: a fixed function of the object (same id, same size)."""
    bitrate = np.array([v.bitrate_bps for v in VARIANTS], dtype=np.float64)[variant]
    n_seg = np.ceil(duration[video] / SEGMENT_S)
    seg_len = np.where(item == n_seg, duration[video] - (n_seg - 1) * SEGMENT_S, SEGMENT_S)
    scale = np.where(variant == AUDIO, 1.0, complexity[video])
    jitter = np.exp(0.25 * np.sqrt(-2 * np.log(_unit(obj, 1))) * np.cos(2 * np.pi * _unit(obj, 2)) - 0.03125)
    segment = bitrate / 8 * seg_len * scale * jitter + 1_500  # + fMP4 moof/mdat headers
    playlist = 250 + 60 * n_seg
    init = np.where(variant == AUDIO, 700, 1_100)
    size = np.select([item == -2, item == -1, item == 0], [np.full(len(obj), 1_600.0), playlist, init], segment)
    return size.astype(np.int64)
