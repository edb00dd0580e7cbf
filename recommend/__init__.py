"""Recommendation models and candidate pools (two-tower retrieval, ranker, trending, evaluation).

Not started: issue 6 builds it. Nothing here yet, deliberately — no placeholder functions.
"""
