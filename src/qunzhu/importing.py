"""The import use case: a file, through its reader, into the store, all or nothing."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from qunzhu import sources
from qunzhu.model import Record
from qunzhu.sources import ReadContext, Skipped
from qunzhu.store.ingest import ImportSummary, Ingest

Progress = Callable[[int, int], None]  # (records done, records expected or 0)


@dataclass
class FileResult:
    path: str
    summary: ImportSummary
    tz: str
    tz_assumed: bool
    skipped: list[Skipped]
    skipped_total: int

    def as_dict(self) -> dict[str, object]:
        out = self.summary.as_dict()
        out.update(
            path=self.path,
            tz=self.tz,
            tz_assumed=self.tz_assumed,
            skipped=self.skipped_total,
        )
        return out


def import_file(
    engine: Engine,
    path: Path,
    fmt: str = "auto",
    community: str | None = None,
    tz: str = sources.DEFAULT_TZ,
    progress: Progress | None = None,
) -> FileResult:
    """Import one file in one transaction: on bad input, SourceError and nothing written."""
    sources.require_file(path)
    chosen = sources.detect(path) if fmt == "auto" else fmt
    ctx = ReadContext(tz=sources.zone(tz))
    records = sources.read(path, chosen, ctx)
    if progress is not None:
        records = _counted(records, ctx, progress)
    with _no_cyclic_gc(), engine.begin() as conn:
        summary = Ingest(conn, chosen, str(path), community=community, tz=tz).run(records)
    return FileResult(str(path), summary, tz, ctx.tz_assumed, ctx.skipped, ctx.skipped_total)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cycle collector: an import allocates millions of acyclic objects, and each
    full collection would walk all of them (measured: a third of the import time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _counted(records: Iterator[Record], ctx: ReadContext, progress: Progress) -> Iterator[Record]:
    for n, record in enumerate(records, start=1):
        if n % 2000 == 0:
            progress(n, ctx.expected)
        yield record
    progress(ctx.expected, ctx.expected)
