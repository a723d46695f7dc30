"""PageRank and levels on graphs small enough to solve by hand."""

from __future__ import annotations

import pytest

from qunzhu.analytics.people import levels, pagerank


def test_pagerank_of_a_star_solved_by_hand() -> None:
    # leaves x, y, z point at hub h, which points nowhere (its rank is spread evenly):
    #   l = .15/4 + .85*h/4 ; h = .15/4 + .85*h/4 + .85*3*l  =>  h = .133125 / .245625
    rank = pagerank({(1, 0): 1.0, (2, 0): 5.0, (3, 0): 2.0}, tol=1e-12)
    hub = 0.133125 / 0.245625
    assert rank[0] == pytest.approx(hub, abs=1e-7)
    assert rank[1] == pytest.approx(0.0375 + 0.2125 * hub, abs=1e-7)
    assert sum(rank.values()) == pytest.approx(1.0)


def test_pagerank_follows_weights() -> None:
    # a splits its vote 9:1 between b and c; b and c both point back at a
    rank = pagerank({(0, 1): 9.0, (0, 2): 1.0, (1, 0): 1.0, (2, 0): 1.0})
    assert rank[0] > rank[1] > rank[2]
    assert pagerank({}) == {}


def test_levels_by_rank() -> None:
    scores = {i: float(100 - i) for i in range(20)}  # 20 speakers, distinct scores
    found = levels(scores, set(range(25)))  # 5 members never spoke
    counts = {name: list(found.values()).count(name) for name in set(found.values())}
    # top 5% of 20 = 1 ultra, to 20% = 3 fans, to 50% = 6 engaged, 10 quiet, 5 silent
    assert counts == {"ultra": 1, "fan": 3, "engaged": 6, "quiet": 10, "silent": 5}
    assert found[0] == "ultra" and found[19] == "quiet" and found[24] == "silent"
