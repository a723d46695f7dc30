"""The console's import page: upload an export, watch it being read, see what it added.

An upload is saved to a temporary folder (at most `MAX_BYTES`), then imported in a thread of
its own by `importing.import_file`, the same path `qunzhu import` takes: one transaction, so a
file it cannot read leaves nothing behind and a one-line reason. Jobs live in this process's
memory (`app.state`), seen by the user who started them and by admins; the temporary folder is
removed when a job ends.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import Message

from qunzhu import i18n, sources
from qunzhu.i18n import os_reason, tr
from qunzhu.importing import import_file
from qunzhu.store import schema as t
from qunzhu.store.accounts import User, audit
from qunzhu.web import auth
from qunzhu.web.app import render
from qunzhu.web.times import moment

log = logging.getLogger(__name__)

_ZH = {
    "Import an export": "导入聊天记录",
    "Upload a chat export: its groups, messages and members are added to the store. "
    "Importing the same file again adds nothing.": (
        "上传聊天记录导出文件：其中的群、消息和成员会加入数据库。同一个文件再次导入不会重复添加。"
    ),
    "Export file": "导出文件",
    "At most {size}.": "最大 {size}。",
    "Format": "格式",
    "auto: judged from the content": "auto：根据内容判断",
    "Community": "社群",
    "No community (admins only)": "不属于任何社群（仅管理员可见）",
    "or a new community": "或新建社群",
    "Time zone": "时区",
    "For exports with local times without a zone.": "用于不带时区的本地时间。",
    "Start the import": "开始导入",
    "Your imports": "你的导入",
    "Imports": "导入记录",
    "File": "文件",
    "Started": "开始时间",
    "State": "状态",
    "In progress": "进行中",
    "Finished": "已完成",
    "Failed": "失败",
    "Import of {name}": "导入 {name}",
    "Reading… {rows} rows so far.": "读取中……已读 {rows} 行。",
    "Reading… {rows} of about {expected} rows.": "读取中……已读 {rows} 行，共约 {expected} 行。",
    "Imported.": "导入完成。",
    "Nothing was imported:": "没有导入任何内容：",
    "Import another file": "导入其他文件",
    "Times were read in {tz}: the export has local times without a zone.": (
        "时间按 {tz} 解读：导出文件中的本地时间不带时区。"
    ),
    "choose a file to upload": "请选择要上传的文件",
    "the file is larger than {size}: split the export, or use `qunzhu import` on the server": (
        "文件超过 {size}：请拆分导出文件，或在服务器上使用 `qunzhu import`"
    ),
    "unknown format {fmt!r}": "未知格式 {fmt!r}",
    "you may import only into your own communities": "只能导入到你自己的社群",
    "only an admin can create a community": "只有管理员可以新建社群",
    "only an admin can import outside a community": "只有管理员可以导入到社群之外",
    "a community name has 1 to 200 characters": "社群名需要 1 到 200 个字",
    "no such import": "没有这个导入任务",
    "the import stopped: {why}": "导入中止：{why}",
    "the upload could not be saved: {why}": "无法保存上传的文件：{why}",
    "the export holds groups of another community ({names}): an admin can import it": (
        "导出文件中有属于其他社群的群（{names}）：请由管理员导入"
    ),
    # the log of the console's imports
    "import {id} of {file} failed": "导入任务 {id}（{file}）失败",
    "cannot write the audit line of import {id}": "无法为导入任务 {id} 写入操作日志",
}
i18n.register(_ZH)

router = APIRouter()

MAX_BYTES = 1 << 30  # 1 GiB: bigger exports go through `qunzhu import` on the server
_FORM_SLACK = 1 << 16  # the multipart envelope around the file
_CHUNK = 1 << 20
_KEEP_JOBS = 200  # finished jobs kept in memory, newest first
_lock = threading.Lock()


@dataclass
class Job:
    id: str
    user_id: int
    user_name: str
    filename: str
    format: str
    community: str | None
    tz: str
    state: str = "running"  # running | done | failed
    rows: int = 0  # records read so far
    expected: int = 0  # records the reader expects (0: unknown)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None

    @property
    def started(self) -> str:
        return moment(self.started_at * 1000, to="second")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["user_id"]
        return out


class JobOut(BaseModel):
    id: str
    user_name: str
    filename: str
    format: str
    community: str | None
    tz: str
    state: str
    rows: int
    expected: int
    started_at: float
    finished_at: float | None
    summary: dict[str, Any] | None
    error: str | None


class Refused(Exception):
    """A request the form cannot take: its status and the one line to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# -- pages ----------------------------------------------------------------------------------


@router.get("/import", response_class=HTMLResponse, include_in_schema=False)
def import_page(request: Request, user: auth.PageUser) -> HTMLResponse:
    auth.may_change(user)
    return _form_page(request, user)


@router.post("/import", response_class=HTMLResponse, include_in_schema=False)
async def start_import(request: Request, user: auth.PageUser) -> Response:
    auth.may_change(user)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BYTES + _FORM_SLACK:
        return await _refused(request, user, Refused(413, _too_big()))
    try:
        form = await _capped(request, MAX_BYTES + _FORM_SLACK).form(max_files=1, max_fields=20)
    except _TooBig:
        return await _refused(request, user, Refused(413, _too_big()))
    folder: Path | None = None
    try:
        auth.check_csrf(request, _text(form.get("csrf_token")))
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Refused(400, tr("choose a file to upload"))
        fmt = _text(form.get("format")) or "auto"
        if fmt != "auto" and fmt not in sources.FORMATS:
            raise Refused(400, tr("unknown format {fmt!r}", fmt=fmt))
        tz = _text(form.get("tz")).strip() or sources.DEFAULT_TZ
        try:
            sources.zone(tz)
        except sources.SourceError as exc:
            raise Refused(400, exc.what) from None
        community = await run_in_threadpool(
            _community,
            auth.engine_of(request),
            user,
            _text(form.get("community")).strip(),
            _text(form.get("new_community")).strip(),
        )
        folder = Path(tempfile.mkdtemp(prefix="qunzhu-import-"))
        path = folder / _safe_name(upload.filename)
        await run_in_threadpool(_save, upload.file, path)
    except Refused as refused:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        return await _refused(request, user, refused)
    finally:
        await form.close()
    job = Job(
        id=secrets.token_urlsafe(12),
        user_id=user.id,
        user_name=user.name,
        filename=path.name,
        format=fmt,
        community=community,
        tz=tz,
    )
    _add(request, job)
    worker = threading.Thread(
        target=contextvars.copy_context().run,  # the request's language, for the error line
        args=(_work, auth.engine_of(request), job, user, path, folder),
        name=f"import-{job.id}",
        daemon=True,
    )
    worker.start()
    return RedirectResponse(f"/import/jobs/{job.id}", status_code=303)


@router.get("/import/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
def job_page(request: Request, job_id: str, user: auth.PageUser) -> HTMLResponse:
    job = _job(request, user, job_id)
    return render(request, "import_job.html", {"job": job, "size": _size(MAX_BYTES)}, user)


@router.get(
    "/api/import/jobs/{job_id}",
    response_model=JobOut,
    tags=["api"],
    responses=auth.API_RESPONSES,
)
def job_api(request: Request, job_id: str, user: auth.ApiUser) -> dict[str, Any]:
    """An import started in the console: its state, the rows read so far, and when it has
    ended its summary or its one-line error."""
    return _job(request, user, job_id).as_dict()


# -- the form -------------------------------------------------------------------------------


def _form_page(
    request: Request, user: User, error: str | None = None, status: int = 200
) -> HTMLResponse:
    with auth.engine_of(request).connect() as conn:
        query = select(t.communities.c.id, t.communities.c.name).order_by(t.communities.c.name)
        communities = [name for cid, name in conn.execute(query) if user.sees(cid)]
    jobs = sorted(
        (j for j in _jobs(request).values() if user.is_admin or j.user_id == user.id),
        key=lambda j: j.started_at,
        reverse=True,
    )[:20]
    context = {
        "formats": list(sources.FORMATS),
        "communities": communities,
        "tz": sources.DEFAULT_TZ,
        "error": error,
        "size": _size(MAX_BYTES),
        "jobs": jobs,
    }
    return render(request, "import.html", context, user, status=status)


class _TooBig(Exception):
    """The body went past the limit while it was still arriving."""


def _capped(request: Request, limit: int) -> Request:
    """The same request, whose body is not read past `limit` bytes. A chunked upload says no
    Content-Length: without this, the form parser would spool all of it to disk before
    `_save` could count it."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _TooBig
        return message

    return Request(request.scope, receive)


async def _refused(request: Request, user: User, refused: Refused) -> HTMLResponse:
    return await run_in_threadpool(_form_page, request, user, refused.message, refused.status)


def _community(engine: Engine, user: User, chosen: str, new: str) -> str | None:
    """The community the import goes into: an operator's own, or for an admin any, a new one
    or none."""
    if new:
        if not user.is_admin:
            raise Refused(403, tr("only an admin can create a community"))
        if len(new) > 200:
            raise Refused(400, tr("a community name has 1 to 200 characters"))
        return new
    if not chosen:
        if not user.is_admin:
            raise Refused(403, tr("only an admin can import outside a community"))
        return None
    with engine.connect() as conn:
        cid = conn.execute(
            select(t.communities.c.id).where(t.communities.c.name == chosen)
        ).scalar_one_or_none()
    if cid is None and user.is_admin:
        return chosen
    if cid is None or not user.sees(cid):
        raise Refused(403, tr("you may import only into your own communities"))
    return chosen


def _save(source: BinaryIO, path: Path) -> None:
    """Copy the upload, refusing it past `MAX_BYTES` (the header may not have said)."""
    written = 0
    try:
        with path.open("wb") as out:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if written > MAX_BYTES:
                    raise Refused(413, _too_big())
                out.write(chunk)
    except OSError as exc:
        raise Refused(500, tr("the upload could not be saved: {why}", why=os_reason(exc))) from None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _safe_name(filename: str) -> str:
    """The upload's own name, without folders or odd characters (it is shown and recorded)."""
    name = re.sub(r"[^\w.\- ]", "_", Path(filename.replace("\\", "/")).name).strip(" .")
    return name[:150] or "upload"


def _too_big() -> str:
    return tr(
        "the file is larger than {size}: split the export, or use `qunzhu import` on the server",
        size=_size(MAX_BYTES),
    )


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


# -- jobs -----------------------------------------------------------------------------------


def _jobs(request: Request) -> dict[str, Job]:
    state = request.app.state
    with _lock:
        if not hasattr(state, "import_jobs"):
            state.import_jobs = {}
        return state.import_jobs  # type: ignore[no-any-return]


def _add(request: Request, job: Job) -> None:
    jobs = _jobs(request)
    with _lock:
        jobs[job.id] = job
        ended = sorted(
            (j for j in jobs.values() if j.state != "running"), key=lambda j: j.started_at
        )
        for old in ended[: max(0, len(jobs) - _KEEP_JOBS)]:
            del jobs[old.id]


def _job(request: Request, user: User, job_id: str) -> Job:
    """The job, for whoever started it and for admins; 404 for anyone else."""
    job = _jobs(request).get(job_id)
    if job is None or not (user.is_admin or job.user_id == user.id):
        raise HTTPException(404, tr("no such import"))
    return job


def _work(engine: Engine, job: Job, user: User, path: Path, folder: Path) -> None:
    """The import itself, in its own thread; the temporary folder goes when it ends."""

    def progress(done: int, expected: int) -> None:
        job.rows = max(job.rows, done)
        job.expected = expected

    try:
        store: Any = engine if user.is_admin else _Guarded(engine, user)
        result = import_file(store, path, job.format, job.community, job.tz, progress)
        summary = result.as_dict()
        summary.pop("path", None)
        job.summary = summary
        job.format = result.summary.format
        s = result.summary  # progress comes every 2000 records: the exact count at the end
        read = s.messages_added + s.messages_skipped
        read += s.membership_events_added + s.membership_events_skipped
        job.rows = max(job.rows, read + result.skipped_total)
        _audit(engine, user, job, "import", summary=summary)
        job.state = "done"
    except sources.SourceError as exc:
        job.error = _one_line(_place(exc, path, job.filename))
        _audit(engine, user, job, "import.failed", error=job.error)
        job.state = "failed"
    except Exception as exc:  # a fault of ours or of the store: say it, keep the console up
        log.exception(tr("import {id} of {file} failed", id=job.id, file=job.filename))
        why = _one_line(str(exc).replace(str(folder), "")) or type(exc).__name__
        job.error = tr("the import stopped: {why}", why=why)
        _audit(engine, user, job, "import.failed", error=job.error)
        job.state = "failed"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        job.finished_at = time.time()


class _Guarded:
    """The store, for an import by an operator: a group the store has already, in a community
    the operator may not see, would move into the import's community (that is what importing
    into a community does) and with it its history; the whole import is refused instead."""

    def __init__(self, engine: Engine, user: User) -> None:
        self.engine, self.user = engine, user

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        g = t.groups
        query = select(g.c.id, g.c.community_id)
        with self.engine.begin() as conn:
            before: dict[int, int | None] = {gid: cid for gid, cid in conn.execute(query)}
            yield conn
            after: dict[int, int | None] = {gid: cid for gid, cid in conn.execute(query)}
            moved = [
                gid for gid, was in before.items() if not self.user.sees(was) and after[gid] != was
            ]
            if moved:
                names = conn.execute(select(g.c.name).where(g.c.id.in_(moved))).scalars()
                raise sources.SourceError(
                    "",
                    tr(
                        "the export holds groups of another community ({names}): "
                        "an admin can import it",
                        names=", ".join(names),
                    ),
                )


def _place(exc: sources.SourceError, path: Path, filename: str) -> str:
    """The error's line with the upload's name where the temporary path was."""
    place = filename if exc.path in (str(path), "") else exc.path
    return f"{place}: {exc.where}: {exc.what}" if exc.where else f"{place}: {exc.what}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _audit(engine: Engine, user: User, job: Job, action: str, **details: object) -> None:
    try:
        with engine.begin() as conn:
            audit(
                conn,
                user,
                action,
                f"file:{job.filename}",
                job=job.id,
                format=job.format,
                community=job.community,
                tz=job.tz,
                **details,
            )
    except Exception:
        log.exception(tr("cannot write the audit line of import {id}", id=job.id))
