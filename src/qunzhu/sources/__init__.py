"""Export readers: one module per format, each turning a file into a stream of model records.

A format module provides:
- `PLATFORM`: the `Platform` its records belong to;
- `sniff(head: bytes) -> bool`: whether the first bytes of a file look like this format (content,
  never the file name, decides);
- `read(path: Path, ctx: ReadContext) -> Iterator[Record]`.

Adding a format is adding a module and a line to `FORMATS`; nothing else changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qunzhu.i18n import tr
from qunzhu.model import Record

# name -> module; the order is the order in which `auto` tries them.
FORMATS: dict[str, str] = {
    "telegram": "qunzhu.sources.telegram",
    "wechat-memotrace": "qunzhu.sources.wechat_memotrace",
    "wechat-pywxdump": "qunzhu.sources.wechat_pywxdump",
    "wechat4": "qunzhu.sources.wechat4",
    "wecom-archive": "qunzhu.sources.wecom_archive",
    "qq-txt": "qunzhu.sources.qq_txt",
    "discord": "qunzhu.sources.discord",
    "whatsapp": "qunzhu.sources.whatsapp",
}

DEFAULT_TZ = "Asia/Shanghai"
SNIFF_BYTES = 64 * 1024
SKIP_DETAIL = 10_000  # skipped rows kept with their place; beyond that only counted


class SourceError(Exception):
    """A file we cannot import. The message names the file and the place, on one line."""

    def __init__(self, path: Path | str, what: str, where: str | None = None) -> None:
        self.path = str(path)
        self.where = where
        self.what = what
        place = f"{self.path}: {where}" if where else self.path
        super().__init__(f"{place}: {what}")


@dataclass
class Skipped:
    where: str
    why: str


@dataclass
class ReadContext:
    """What a reader needs besides the file, and where it reports what it could not use."""

    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TZ))
    tz_assumed: bool = False  # set by readers that met naive local times
    skipped: list[Skipped] = field(default_factory=list)  # the first SKIP_DETAIL of them
    skipped_total: int = 0
    expected: int = 0  # records the reader expects to yield, for progress bars (0: unknown)

    def skip(self, where: str, why: str) -> None:
        """Count a row we could not use; keep its place and reason for `--verbose`, up to a
        bound, so that an archive full of 1:1 chats cannot fill memory with skip notes."""
        self.skipped_total += 1
        if len(self.skipped) < SKIP_DETAIL:
            self.skipped.append(Skipped(where, why))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SourceError(
            "--tz", tr("unknown time zone {name!r} (try Asia/Shanghai, UTC)", name=name)
        ) from exc


def module(fmt: str) -> ModuleType:
    if fmt not in FORMATS:
        supported = ", ".join(["auto", *FORMATS])
        raise SourceError(
            "--format",
            tr("unknown format {fmt!r}; supported: {formats}", fmt=fmt, formats=supported),
        )
    return importlib.import_module(FORMATS[fmt])


def detect(path: Path) -> str:
    """The format of `path`, judged from its content."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    for fmt in FORMATS:
        if module(fmt).sniff(head):
            return fmt
    supported = ", ".join(FORMATS)
    raise SourceError(
        path, tr("cannot tell the format from the content; supported: {formats}", formats=supported)
    )


def read(path: Path, fmt: str, ctx: ReadContext) -> Iterator[Record]:
    require_file(path)
    return module(fmt).read(path, ctx)


def require_file(path: Path) -> None:
    """SourceError unless `path` is a file to read (a folder is said to be one)."""
    if not path.is_file():
        raise SourceError(path, tr("it is a folder") if path.is_dir() else tr("no such file"))
