"""Demo data: a generated community and writers that lay it out as each platform's export."""

from __future__ import annotations

import importlib
from pathlib import Path

from qunzhu.demo.community import DemoCommunity, DemoStats

# format name (as in `qunzhu import --format`) -> writer module with `write(records, dir, groups)`
WRITERS: dict[str, str] = {
    "telegram": "qunzhu.demo.telegram",
}


def write_export(fmt: str, community: DemoCommunity, out_dir: Path) -> list[Path]:
    writer = importlib.import_module(WRITERS[fmt])
    return writer.write(community, out_dir, community.group_count)


__all__ = ["WRITERS", "DemoCommunity", "DemoStats", "write_export"]
