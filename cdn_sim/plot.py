"""PNG figures of a simulation: hit ratios per tier and policy, hit ratio over time, and vs cache size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cdn_sim.simulate import TIERS, PolicyResult
from cdn_sim.workload import Trace


def write_plot(results: dict[str, PolicyResult], path: str | Path, *, trace: Trace | None = None,
               warmup_s: float = 0.0, sweep: dict[str, list[float]] | None = None,
               sweep_factors: Sequence[float] = ()) -> Path:
    """Write the figure to ``path`` (PNG) and return it.

    Panels: object and byte hit ratio per tier (bars, one per policy); with ``trace``, the share of
    client requests answered at edge or regional tier per hour; with ``sweep``, that share against a
    factor applied to every cache size.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    panels = 2 + (trace is not None) + (sweep is not None)
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2), squeeze=False)
    axes = axes[0]
    names = [*TIERS, "edge+regional"]
    width = 0.8 / max(1, len(results))
    for ax, label, attr in ((axes[0], "object hit ratio", "object_hit_ratio"),
                            (axes[1], "byte hit ratio", "byte_hit_ratio")):
        for i, (policy, res) in enumerate(results.items()):
            values = [getattr(res.tiers[t], attr) for t in TIERS]
            values.append(res.edge_regional_hit_ratio if attr == "object_hit_ratio"
                          else res.edge_regional_byte_hit_ratio)
            ax.bar(np.arange(len(names)) + (i - (len(results) - 1) / 2) * width, values, width, label=policy)
        ax.set_xticks(np.arange(len(names)), names)
        ax.set_ylim(0, 1.12)  # headroom for the legend
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="upper left", fontsize="small", ncols=len(results))
    k = 2
    if trace is not None:
        ax = axes[k]
        k += 1
        hour = (trace.time_s // 3600).astype(np.int64)
        counted = trace.time_s >= warmup_s
        n_hours = int(hour.max()) + 1
        for policy, res in results.items():
            answered = counted & (res.served_by <= 1)
            total = np.bincount(hour[counted], minlength=n_hours)
            good = np.bincount(hour[answered], minlength=n_hours)
            hours = np.flatnonzero(total > 0.2 * total.max())  # not the ragged last hour (read-ahead spills past it)
            ax.plot(hours, good[hours] / total[hours], label=policy, lw=1.2)
        if trace.flash_video >= 0:
            ax.axvline(trace.video_upload_s[trace.flash_video] / 3600, color="grey", ls="--", lw=0.8)
            ax.text(trace.video_upload_s[trace.flash_video] / 3600, 0.02, " flash crowd", fontsize="small",
                    transform=ax.get_xaxis_transform())  # x in hours, y in axes fraction
        ax.set_xlabel("hour of trace (after warm-up)")
        ax.set_title("edge+regional hit ratio per hour")
        ax.grid(alpha=0.3)
    if sweep is not None:
        ax = axes[k]
        for policy, values in sweep.items():
            ax.plot(list(sweep_factors), values, marker="o", label=policy)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("cache size x default (every tier)")
        ax.set_title("edge+regional hit ratio vs cache size")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out
