"""How long an origin response may be served from cache, from its Cache-Control header."""

from __future__ import annotations


def max_age_s(cache_control: str | None, default_s: float = 0.0) -> float:
    """Seconds of freshness; 0 for no-store/no-cache/private, ``default_s`` when the header says nothing."""
    if not cache_control:
        return default_s
    directives: dict[str, str | None] = {}
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        directives[name.strip().lower()] = value.strip().strip('"') or None
    if {"no-store", "no-cache", "private"} & directives.keys():
        return 0.0
    for name in ("s-maxage", "max-age"):  # a shared cache prefers s-maxage
        value = directives.get(name)
        if value is not None:
            try:
                return max(0.0, float(int(value)))
            except ValueError:
                return 0.0
    return default_s
