"""What every reader shares: skip bookkeeping and format detection."""

from __future__ import annotations

import pytest

from qunzhu import sources
from qunzhu.sources import ReadContext


def test_skips_beyond_the_detail_bound_are_counted_not_kept(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sources, "SKIP_DETAIL", 3)
    ctx = ReadContext()
    for n in range(1, 8):
        ctx.skip(f"line {n}", "a 1:1 chat")
    assert ctx.skipped_total == 7
    assert [s.where for s in ctx.skipped] == ["line 1", "line 2", "line 3"]


@pytest.fixture(scope="module")
def demo_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    from qunzhu.demo import WRITERS, DemoCommunity, write_export

    root = tmp_path_factory.mktemp("exports")
    return {
        fmt: write_export(fmt, DemoCommunity(messages=300, groups=2, days=5), root / fmt)
        for fmt in WRITERS
    }


@pytest.mark.parametrize("fmt", list(sources.FORMATS))
def test_each_format_is_claimed_by_its_own_sniffer_only(fmt: str, demo_exports: dict[str, list]):
    for path in demo_exports[fmt]:
        head = path.read_bytes()[: sources.SNIFF_BYTES]
        claimed = [name for name in sources.FORMATS if sources.module(name).sniff(head)]
        assert claimed == [fmt], path.name
        assert sources.detect(path) == fmt


def test_a_file_of_no_known_format_names_the_supported_ones(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\nmilk\neggs\n", encoding="utf-8")
    with pytest.raises(sources.SourceError) as caught:
        sources.detect(path)
    assert "notes.txt" in str(caught.value)
    assert all(name in str(caught.value) for name in sources.FORMATS)
