"""The demo community: a fixed calendar by default, or a history that ends when asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qunzhu.demo import DemoCommunity
from qunzhu.demo.community import START
from qunzhu.model import Message


def _times(community: DemoCommunity) -> list[datetime]:
    return [r.sent_at for r in community if isinstance(r, Message)]


def test_fixed_calendar_by_default() -> None:
    times = _times(DemoCommunity(messages=600, groups=3))
    assert min(times) >= START
    assert max(times) < START + timedelta(days=40)


def test_history_ends_when_asked_and_stays_the_same_community() -> None:
    until = datetime(2027, 3, 15, tzinfo=UTC)
    times = _times(DemoCommunity(messages=600, groups=5, until=until))
    assert max(times) <= until
    assert max(times) > until - timedelta(days=3)  # the group that ends last was busy lately
    plain = _times(DemoCommunity(messages=600, groups=5))
    # the fourth group (30 days from day 6) ends last: the fixed calendar's 7 October 01:51,
    # moved by whole days to end before `until`: 14 March 2027 01:51
    shift = datetime(2027, 3, 14, 1, 51, tzinfo=UTC) - (START + timedelta(days=36, minutes=51))
    assert times == [t + shift for t in plain]  # the same community, its days' rhythm kept
