"""Demo data: a generated community and writers that lay it out as each platform's export."""

from __future__ import annotations

import importlib
from pathlib import Path

from qunzhu.demo.community import DemoCommunity, DemoStats

# format name (as in `qunzhu import --format`) -> writer module with `write(records, dir, groups)`
WRITERS: dict[str, str] = {
    "telegram": "qunzhu.demo.telegram",
    "wechat-memotrace": "qunzhu.demo.wechat_memotrace",
    "wechat-pywxdump": "qunzhu.demo.wechat_pywxdump",
    "wechat4": "qunzhu.demo.wechat4",
    "wecom-archive": "qunzhu.demo.wecom_archive",
    "qq-txt": "qunzhu.demo.qq_txt",
    "discord": "qunzhu.demo.discord",
    "whatsapp": "qunzhu.demo.whatsapp",
}


def write_export(fmt: str, community: DemoCommunity, out_dir: Path) -> list[Path]:
    writer = importlib.import_module(WRITERS[fmt])
    return writer.write(community, out_dir, community.group_count)


__all__ = ["WRITERS", "DemoCommunity", "DemoStats", "write_export"]
