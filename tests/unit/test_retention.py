"""The retention curve: share of views that reached each 10 % mark."""

from catalog.events import retention_curve


def test_curve_counts_views_reaching_each_mark():
    assert retention_curve([0.0, 0.55, 1.0]) == [1.0] + [0.6667] * 5 + [0.3333] * 5
    assert retention_curve([0.3]) == [1.0, 1.0, 1.0, 1.0] + [0.0] * 7  # 0.3 counts at the 30 % mark
    assert retention_curve([]) == [0.0] * 11
    assert retention_curve([1.0, 1.0], steps=4) == [1.0] * 5
