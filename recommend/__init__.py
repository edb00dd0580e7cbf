"""Recommendations: serving-side ranking and page assembly (pure), and the simple pool builder that
stands in until the batch DAGs (issue 6: two-tower retrieval, ranker, trending, evaluation) write pools.
"""
