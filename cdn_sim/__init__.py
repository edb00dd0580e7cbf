"""The simulated CDN: cache policies, tiers with request coalescing, and the HTTP/3 edge server."""
