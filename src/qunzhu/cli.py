"""The `qunzhu` command.

User mistakes (a bad file, an unknown format, an unreachable database) end with one line on
stderr and exit code 1; only bugs produce tracebacks.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qunzhu import sources
from qunzhu.cli_help import Bilingual
from qunzhu.i18n import lang, os_reason, tr
from qunzhu.moderation.behaviour import Context
from qunzhu.moderation.engine import Detector
from qunzhu.moderation.evaluate import DataError, evaluate, read_tsv, spam_only
from qunzhu.moderation.model import COMBINE_FROM, SPAM_FPR, ContentModel

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from qunzhu.config import Config
    from qunzhu.connectors.language_model import ChatEndpoint
    from qunzhu.engine.replay import GroupReplay
    from qunzhu.importing import FileResult
    from qunzhu.moderation.feedback import HumanLabel
    from qunzhu.moderation.verdicts import Decision
    from qunzhu.store.accounts import User

# The store, the live engine and the reports are imported by the commands that use them:
# `qunzhu moderation check` should not wait for SQLAlchemy and pydantic (1.1 s of 1.3 s).
DEFAULT_CONFIG = Path("qunzhu.toml")  # the same as qunzhu.config.DEFAULT_PATH (test-guarded)

app = typer.Typer(
    cls=Bilingual,
    help="群主 qunzhu: run group-chat communities.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
moderation_app = typer.Typer(help="Catch ads and abuse, and say why.", no_args_is_help=True)
app.add_typer(moderation_app, name="moderation")
config_app = typer.Typer(
    help="The qunzhu.toml file: communities, groups, connectors, policies.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")
tags_app = typer.Typer(help="Tags operators give members.", no_args_is_help=True)
app.add_typer(tags_app, name="tags")
blocklist_app = typer.Typer(help="Who is kept out of a community's groups.", no_args_is_help=True)
app.add_typer(blocklist_app, name="blocklist")

out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $QUNZHU_DATABASE_URL or ./qunzhu.db)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The configuration file (default ./qunzhu.toml).")
]


@app.callback()
def main(
    lang: Annotated[
        str | None, typer.Option("--lang", help="zh (default) or en; also $QUNZHU_LANG.")
    ] = None,
) -> None:
    if lang:
        os.environ["QUNZHU_LANG"] = lang


def fail(message: str) -> typer.Exit:
    # the message is the user's words and paths, not markup: "[language_model]" stays itself
    err.print(f"[bold red]{tr('error')}:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Export files to import.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"auto, {', '.join(sources.FORMATS)}")
    ] = "auto",
    community: Annotated[
        str | None, typer.Option("--community", help="Put the groups in this community.")
    ] = None,
    tz: Annotated[
        str, typer.Option("--tz", help="Zone of naive local times in the export.")
    ] = sources.DEFAULT_TZ,
    database: DbOption = None,
    as_json: JsonOption = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every skipped row.")
    ] = False,
) -> None:
    """Import chat exports into the store. Importing the same file again adds nothing."""
    from qunzhu.sources import SourceError
    from qunzhu.store import db
    from qunzhu.store.db import StoreError

    try:
        engine = db.open_store(database)
    except StoreError as exc:
        raise fail(str(exc)) from None
    results: list[FileResult] = []
    for path in paths:
        try:
            results.append(_import_one(engine, path, format, community, tz, quiet=as_json))
        except SourceError as exc:
            note = tr("nothing from this file was imported")
            if results:
                note += "; " + tr("{n} earlier file(s) were imported", n=len(results))
            raise fail(f"{exc} ({note})") from None
    for result in results:
        if verbose:
            for skipped in result.skipped:
                err.print(f"  skip {result.path}: {skipped.where}: {skipped.why}", highlight=False)
            unlisted = result.skipped_total - len(result.skipped)
            if unlisted:
                err.print("  " + tr("… and {n} more skipped rows", n=unlisted), highlight=False)
        if not as_json:
            _print_summary(result)
    if as_json:
        sys.stdout.write(orjson.dumps(_combined(results)).decode() + "\n")


def _import_one(
    engine: Engine, path: Path, fmt: str, community: str | None, tz: str, quiet: bool
) -> FileResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from qunzhu.importing import import_file

    if quiet or not err.is_terminal:
        return import_file(engine, path, fmt, community, tz)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"{tr('Reading')} {path.name}", total=None)

        def advance(done: int, expected: int) -> None:
            bar.update(task, completed=done, total=expected or None)

        return import_file(engine, path, fmt, community, tz, progress=advance)


def _combined(results: list[FileResult]) -> dict[str, object]:
    formats = sorted({r.summary.format for r in results})
    total: dict[str, object] = {
        "format": formats[0] if len(formats) == 1 else ",".join(formats),
        "groups": len({name for r in results for name in r.summary.group_names}),
    }
    for key in (
        "messages_added",
        "messages_skipped",
        "membership_events_added",
        "membership_events_skipped",
    ):
        total[key] = sum(getattr(r.summary, key) for r in results)
    total["members"] = sum(r.summary.members for r in results)
    total["rows_skipped"] = sum(r.skipped_total for r in results)
    total["tz"] = results[0].tz if results else sources.DEFAULT_TZ
    total["tz_assumed"] = any(r.tz_assumed for r in results)
    total["files"] = [r.as_dict() for r in results]
    return total


def _print_summary(result: FileResult) -> None:
    s = result.summary
    out.print(tr("Imported {path} as {fmt}", path=result.path, fmt=s.format), highlight=False)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row(tr("groups"), str(s.groups), ", ".join(s.group_names))
    table.add_row(tr("messages added"), str(s.messages_added))
    table.add_row(tr("messages already present"), str(s.messages_skipped))
    table.add_row(tr("membership events added"), str(s.membership_events_added))
    table.add_row(tr("members"), str(s.members))
    if result.skipped_total:
        table.add_row(tr("rows skipped"), str(result.skipped_total), "--verbose")
    out.print(table)
    if result.tz_assumed:
        out.print(
            tr("times read in {tz} (the export has local times without a zone)", tz=result.tz)
        )


@app.command()
def groups(database: DbOption = None, as_json: JsonOption = False) -> None:
    """List the groups in the store with their members and messages."""
    from qunzhu.store import db
    from qunzhu.store.db import StoreError
    from qunzhu.store.queries import list_groups

    try:
        rows = list_groups(db.open_store(database))
    except StoreError as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(orjson.dumps([r.as_dict() for r in rows]).decode() + "\n")
        return
    if not rows:
        out.print(tr("No groups yet. Import an export: qunzhu import PATH"))
        return
    table = Table(title=tr("Groups"))
    for header in ("id", "platform", "name", "community", "kind", "members now", "messages"):
        numeric = header in ("id", "members now", "messages")
        table.add_column(tr(header), justify="right" if numeric else "left", overflow="fold")
    table.add_column(tr("last message"), no_wrap=True)
    for r in rows:
        last = datetime.fromtimestamp(r.last_message_at / 1000, UTC) if r.last_message_at else None
        table.add_row(
            str(r.id),
            r.platform,
            r.name,
            r.community or "",
            tr(r.kind),
            str(r.members),
            str(r.messages),
            _local(last, r.tz),
        )
    out.print(table)


def _local(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return ""
    return moment.astimezone(sources.zone(tz)).strftime("%m-%d %H:%M")


@app.command()
def forget(
    member: Annotated[str, typer.Argument(help="The member's platform id (or display name).")],
    platform: Annotated[str | None, typer.Option(help="Only members of this platform.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    database: DbOption = None,
) -> None:
    """Delete a member and everything they wrote (a member's right to be forgotten)."""
    from qunzhu.store import db
    from qunzhu.store.db import StoreError
    from qunzhu.store.privacy import forget_member

    try:
        engine = db.open_store(database)
    except StoreError as exc:
        raise fail(str(exc)) from None
    with engine.begin() as conn:
        found = _one_member(conn, member, platform)
        if not yes and not typer.confirm(tr("Delete {ref} and all their messages?", ref=member)):
            raise typer.Exit(1)
        gone = forget_member(conn, found)
    out.print(
        tr(
            "Deleted {ref}: {messages} messages, {events} membership events, {decisions} decisions",
            ref=member,
            messages=gone.messages,
            events=gone.membership_events,
            decisions=gone.decisions,
        )
    )
    if gone.blocked:
        out.print(
            tr(
                "They stay on {n} communities' blocklists as a digest of their id (no name, "
                "no reason); `qunzhu blocklist remove ID --platform P` lets them back",
                n=gone.blocked,
            )
        )
    if gone.labelled:  # the labels are gone; a model trained on them keeps what it learned
        out.print(
            tr(
                "{n} of their messages were labelled for training: a model you trained on "
                "them keeps them until you train it again (qunzhu moderation train); the "
                "communities' learnt models are trained again by the running engine",
                n=gone.labelled,
            ),
            highlight=False,
        )


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the demo export.")] = Path(
        "demo-export"
    ),
    messages: Annotated[int, typer.Option(min=0, help="Messages in the whole community.")] = 3000,
    group_count: Annotated[int, typer.Option("--groups", min=1, help="Number of groups.")] = 3,
    seed: Annotated[int, typer.Option(help="Same seed on the same day, same community.")] = 7,
    serve_it: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the console afterwards.")
    ] = True,
    port: Annotated[int, typer.Option(min=1, max=65535, help="The console's port.")] = 8000,
    database: DbOption = None,
) -> None:
    """Generate a demo community, import it, and open the console on it (log in as `demo`)."""
    from qunzhu.demo import DemoCommunity, write_export
    from qunzhu.demo.moderation import DEMO_DAY, moderation_day
    from qunzhu.store import accounts, db
    from qunzhu.web import overview as web_overview

    listening = _listening("127.0.0.1", port) if serve_it else None  # a port in use: say so first
    # the history ends on the day before the day of moderation `moderation_day` plays, so
    # the console opens on groups that were busy until yesterday, not months ago
    day = (datetime.now(UTC) - DEMO_DAY).replace(hour=0, minute=0, second=0, microsecond=0)
    community = DemoCommunity(messages=messages, groups=group_count, seed=seed, until=day)
    paths = write_export("telegram", community, out_dir)
    out.print(tr("Demo community written to {path}", path=out_dir), highlight=False)
    import_(paths, community=tr("Demo community"), database=database)
    groups(database=database)
    engine = db.open_store(database)
    made = moderation_day(engine, tr("Demo community"))
    if made:
        out.print(
            tr("A day of moderation in the first groups: {n} decisions.", n=made), highlight=False
        )
    password = secrets.token_urlsafe(9)
    with engine.begin() as conn:  # a fresh password for the demo account at every run
        if any(name == DEMO_USER for name, _, _ in accounts.list_users(conn)):
            accounts.set_password(conn, DEMO_USER, password)
        else:
            accounts.add_user(conn, DEMO_USER, password, "admin")
    with engine.connect() as conn:
        for group_id in accounts.visible_groups(conn, _everyone()):
            web_overview.snapshot(engine, group_id)
    if listening is None:
        out.print(tr("Next: `qunzhu report` shows each group's stage, health and what to do next."))
        return
    out.print(
        tr(
            "Console: http://127.0.0.1:{port}/  name: {name}  password: {password}",
            port=port,
            name=DEMO_USER,
            password=password,
        ),
        highlight=False,
        soft_wrap=True,
    )
    _serve(engine, listening, None)


class Role(StrEnum):
    """Who may do what in the console (`store.accounts.ROLES`): a choice the parser checks,
    so a wrong one is said before the password is asked for."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class ReportFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    HTML = "html"


def _date_option(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(
            tr("{flag}: not a date (YYYY-MM-DD): {value!r}", flag=flag, value=value)
        ) from None


@app.command()
def report(
    group: Annotated[str | None, typer.Option(help="A group's name, id or platform id.")] = None,
    community: Annotated[str | None, typer.Option(help="Only this community's groups.")] = None,
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (local).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (local).")] = None,
    tz: Annotated[str | None, typer.Option(help="Time zone (default: each group's).")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="text, json or html.")] = (
        ReportFormat.TEXT
    ),
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
    database: DbOption = None,
) -> None:
    """How every group is doing and what to do next, with the numbers and the playbook rule."""
    from qunzhu.analytics import ReportError, build_report
    from qunzhu.reports.html import render_html
    from qunzhu.reports.text import render_text
    from qunzhu.sources import SourceError
    from qunzhu.store import db
    from qunzhu.store.db import StoreError

    first, last = _date_option(since, "--since"), _date_option(until, "--until")
    try:
        if tz:
            sources.zone(tz)
        engine = db.open_store(database)
        data = build_report(engine, group, community, first, last, tz).as_dict()
    except (StoreError, ReportError, SourceError) as exc:
        raise fail(str(exc)) from None
    if fmt is ReportFormat.JSON:
        body = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"
    elif fmt is ReportFormat.HTML:
        body = render_html(data)
    else:
        if output is None:
            render_text(data, out)
            return
        recorder = Console(record=True, width=120, file=io.StringIO())
        render_text(data, recorder)
        body = recorder.export_text()
    if output is None:
        sys.stdout.write(body)
        return
    try:
        output.write_text(body, encoding="utf-8")
    except OSError as exc:
        raise fail(tr("cannot write {path}: {why}", path=output, why=os_reason(exc))) from None
    err.print(tr("Report written to {path}", path=output), highlight=False)


ModelOption = Annotated[
    Path, typer.Option("--model", help="The content model file (made by `moderation train`).")
]
DEFAULT_MODEL = Path("qunzhu-moderation.model")
CommunityOption = Annotated[
    str | None,
    typer.Option(
        "--community",
        help="This community's model, trained on top of the shared one given by --model.",
    ),
]


def _community_model(model: Path, community: str | None) -> Path:
    """A community's model lies next to the shared one: qunzhu-moderation.<name>.model."""
    if community is None:
        return model
    from qunzhu.moderation.learning import file_name

    return model.with_name(f"{model.stem}.{file_name(community)}{model.suffix}")


def _load_model(model: Path) -> ContentModel | None:
    if not model.exists():
        return None
    try:
        return ContentModel.load(model)
    except (ValueError, OSError, EOFError) as exc:
        raise fail(tr("cannot read the content model {path}: {why}", path=model, why=exc)) from None


def _picture(path: Path) -> bytes:
    """A picture file's bytes; a clear error for a missing file or one that is not a picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = path.read_bytes()
        with Image.open(path) as image:
            image.verify()
    except OSError as exc:
        why = tr("not a picture") if isinstance(exc, UnidentifiedImageError) else os_reason(exc)
        raise fail(tr("cannot read the picture {path}: {why}", path=path, why=why)) from None
    return data


def _detector(model: Path, community: str | None = None) -> Detector:
    """The community's model if it has one, else the shared one, else words and contacts."""
    own = _community_model(model, community)
    return Detector(model=_load_model(own) if own.exists() else _load_model(model))


@moderation_app.command("check")
def moderation_check(
    text: Annotated[str, typer.Argument(help="The message to judge.")] = "",
    pictures: Annotated[
        list[Path] | None,
        typer.Option(
            "--picture",
            help="A picture sent with it (repeatable): its QR codes and the text written in "
            "it are judged too.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="The sender's display name, checked as at a join: an ad for a name "
            "(兼职日结 加V abc12345) makes the message a question at least.",
        ),
    ] = None,
    bio: Annotated[
        str | None,
        typer.Option("--bio", help="The sender's profile bio, checked as the name is."),
    ] = None,
    ask_model: Annotated[
        bool,
        typer.Option(
            "--ask-model",
            help="Also ask the [language_model] of --config, as a group with second_opinion "
            "does, and show how its reading settles the decision (tries your setup).",
        ),
    ] = False,
    model: ModelOption = DEFAULT_MODEL,
    community: CommunityOption = None,
    as_json: JsonOption = False,
    database: DbOption = None,
    path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Judge one message: the verdict, its score and every check's result. With --community,
    as that community's groups judge it: its model, and the ads and contacts people
    confirmed in its groups (the store's answers)."""
    images = tuple(_picture(p) for p in pictures or ())
    read = ""
    if images:
        from qunzhu.moderation.images import ReaderMissing, picture_text

        try:
            read = "\n".join(t for t in map(picture_text, images) if t)
        except ReaderMissing as exc:
            raise fail(str(exc)) from None
    whole = "\n".join(t for t in (text, read) if t)
    ctx = Context("cli", "cli", time.time(), images=images) if images else None
    detector = _detector(model, community)
    if community is not None:  # the store only then: a plain check starts without it
        from qunzhu.moderation.feedback import bank_of
        from qunzhu.store.db import StoreError

        try:
            detector.bank = bank_of(_console_labels(database, community))
        except StoreError as exc:
            raise fail(str(exc)) from None
    decision = detector.named(detector.check(whole, ctx), name, bio)
    if ask_model:
        decision = _second_opinion(decision, whole, path)
    if as_json:
        shown = decision.as_dict() | ({"picture_text": read} if images else {})
        sys.stdout.write(orjson.dumps(shown).decode() + "\n")
        return
    if read:
        out.print(f"{tr('Written in its pictures:')} {read.replace(chr(10), ' / ')}")
    out.print(f"[bold]{tr(decision.verdict)}[/] {decision.score:.2f}", highlight=False)
    for check in decision.checks:
        details = orjson.dumps(check.details).decode() if check.details else ""
        out.print(
            f"  {check.name}: {tr(check.verdict)} {check.score:.2f} {details}", highlight=False
        )


def _endpoint(path: Path) -> ChatEndpoint:
    """The [language_model] the configuration file names, or a one-line error."""
    from qunzhu.connectors.language_model import ChatEndpoint

    config = _config(path)
    settings = config.language_model
    if settings is None:
        raise fail(tr("{path} names no [language_model]", path=path))
    key = config.model_key()
    if settings.key_env and not key:
        missing = settings.key_env
        raise fail(tr("language_model: the environment variable {var} is not set", var=missing))
    return ChatEndpoint(settings.url, settings.model, key, settings.timeout_s, settings.extra)


def _second_opinion(decision: Decision, said: str, path: Path) -> Decision:
    """The decision as the language model of the configuration file settles it."""
    from qunzhu.connectors.language_model import EndpointError
    from qunzhu.moderation import opinion

    endpoint = _endpoint(path)
    started = time.monotonic()
    try:
        reading = opinion.read(endpoint(opinion.messages(said, decision, False, lang())))
    except (EndpointError, opinion.Unreadable) as exc:
        raise fail(tr("the language model gave no answer: {why}", why=exc)) from None
    finally:
        endpoint.close()
    ms = round((time.monotonic() - started) * 1000)
    return opinion.settle(decision, opinion.check(reading, endpoint.model, ms))


@moderation_app.command("train")
def moderation_train(
    data: Annotated[
        Path | None, typer.Option("--data", help="LABEL<TAB>TEXT file (1 remove, 0 keep).")
    ] = None,
    model: ModelOption = DEFAULT_MODEL,
    community: CommunityOption = None,
    database: DbOption = None,
) -> None:
    """Train the content model on labelled messages and save it: the file's, and those people
    labelled in the console's moderation queue (of --community's groups, when given); with
    --community, that community's own model on top of the shared one."""
    from qunzhu.moderation.feedback import labelled
    from qunzhu.store.db import StoreError

    texts: list[str] = []
    labels: list[int] = []
    try:
        if data is not None:
            texts, labels = read_tsv(data)
        console = labelled(_console_labels(database, community))
    except (DataError, StoreError) as exc:
        raise fail(str(exc)) from None
    labels += [label for label, _ in console]
    texts += [text for _, text in console]
    if console:
        out.print(tr("{n} labels from the console's queue", n=len(console)), highlight=False)
    if len(set(labels)) < 2:
        raise fail(
            tr("{path}: needs both labels, 0 and 1", path=data or tr("the console's labels"))
        )
    base = _load_model(model) if community is not None else None
    target = _community_model(model, community)
    trained = ContentModel.train(texts, labels, base=base)
    trained.save(target)
    out.print(tr("Trained on {n} messages; saved {path}", n=len(texts), path=target))
    if trained.combiner is not None:
        out.print(
            tr(
                "spam from {spam:.3f}, review from {review:.3f}: at most {share:.1%} of your "
                "normal messages were called spam in cross-validation",
                spam=trained.spam_from,
                review=trained.review_from,
                share=SPAM_FPR,
            ),
            highlight=False,
        )
        if trained.neighbours is not None:
            out.print(
                tr("kept the nearest-message bank: your spam comes in campaigns"),
                highlight=False,
            )
    else:
        out.print(
            tr("fewer than {n} messages of a label: fixed thresholds", n=COMBINE_FROM),
            highlight=False,
        )
    if community is not None and base is not None:
        out.print(tr("on top of the shared model {path}", path=model), highlight=False)
    elif community is not None:
        out.print(tr("no shared model at {path}: trained alone", path=model), highlight=False)


def _console_labels(database: str | None, community: str | None) -> list[HumanLabel]:
    """What people labelled in the console, if there is a store (training never makes one)."""
    from qunzhu.moderation import feedback
    from qunzhu.store import db
    from qunzhu.store.queries import matching_groups

    url = db.database_url(database)
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).exists():
        return []
    engine = db.open_store(url)
    with engine.connect() as conn:
        groups = [gid for gid, _ in matching_groups(conn, None, community)] if community else None
        return feedback.labels_since(conn, None, groups)


@moderation_app.command("eval")
def moderation_eval(
    data: Annotated[Path, typer.Option("--data", help="LABEL<TAB>TEXT file to measure on.")],
    train: Annotated[
        Path | None, typer.Option("--train", help="Train the content model on this file first.")
    ] = None,
    model: ModelOption = DEFAULT_MODEL,
    community: CommunityOption = None,
    as_json: JsonOption = False,
    ask_model: Annotated[
        bool,
        typer.Option(
            "--ask-model",
            help="Also ask the [language_model] of --config about what a group with "
            'second_opinion = "questions" would (with --veto, "veto"), and give the figures '
            "with and without it: what the model would change on your labelled messages.",
        ),
    ] = False,
    veto: Annotated[
        bool, typer.Option("--veto", help="With --ask-model: the content model's removals too.")
    ] = False,
    path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Precision, recall, F1, false-positive rate and speed on a labelled file."""
    try:
        texts, labels = read_tsv(data)
        if train is not None:
            train_texts, train_labels = read_tsv(train)
            detector = Detector(model=ContentModel.train(train_texts, train_labels))
        else:
            detector = _detector(model, community)
    except DataError as exc:
        raise fail(str(exc)) from None
    if ask_model:
        shown: dict[str, Any] = _with_the_model(detector, texts, labels, veto, path)
    else:
        shown = evaluate(detector, texts, labels, spam_only).as_dict()
    if as_json:
        sys.stdout.write(orjson.dumps(shown).decode() + "\n")
        return
    for key, value in shown.items():
        out.print(f"{key}: {value}", highlight=False)


def _with_the_model(
    detector: Detector, texts: list[str], labels: list[int], veto: bool, path: Path
) -> dict[str, Any]:
    """The figures once the language model has read what it would be asked about, those
    without it (`without_model`), and how many it was asked and could not answer."""
    from qunzhu.engine.opinions import read_all
    from qunzhu.moderation import opinion
    from qunzhu.moderation.evaluate import score

    endpoint = _endpoint(path)
    start = time.perf_counter()
    decisions = detector.check_many(texts)
    elapsed = time.perf_counter() - start
    asked = [i for i, d in enumerate(decisions) if opinion.asks(d, veto)]
    chats = [opinion.messages(texts[i], decisions[i], False, lang()) for i in asked]
    try:
        answers = read_all(endpoint, chats)
    finally:
        endpoint.close()
    settled = list(decisions)
    for i, (reading, error) in zip(asked, answers, strict=True):
        said = opinion.check(reading, endpoint.model, 0, error)
        settled[i] = opinion.settle(decisions[i], said)
    before = score([d.verdict for d in decisions], labels, spam_only, elapsed)
    after = score([d.verdict for d in settled], labels, spam_only, elapsed)
    return {
        **after.as_dict(),
        "asked": len(asked),
        "unanswered": sum(reading is None for reading, _ in answers),
        "without_model": {k: v for k, v in before.as_dict().items() if k != "msgs_per_s"},
    }


@db_app.command("upgrade")
def db_upgrade(database: DbOption = None) -> None:
    """Bring the database schema up to date (also done automatically on first use)."""
    from qunzhu.store import db
    from qunzhu.store.db import StoreError

    try:
        engine = db.open_store(database)  # brought up to date on the way
    except StoreError as exc:
        raise fail(str(exc)) from None
    out.print(
        tr("Database is up to date: {url}", url=engine.url.render_as_string(hide_password=True))
    )


# -- live -----------------------------------------------------------------------------------


def _config(path: Path) -> Config:
    from qunzhu.config import ConfigError
    from qunzhu.config import load as load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise fail(str(exc)) from None


@config_app.command("check")
def config_check(path: ConfigOption = DEFAULT_CONFIG) -> None:
    """Check the file, the secrets it names in the environment and the models it points to."""
    from qunzhu import service
    from qunzhu.config import ConfigError

    config = _config(path)
    try:
        config.secrets()
        service.setups(config, path.parent)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    out.print(
        tr(
            "{path}: OK, {c} connector(s), {g} group(s)",
            path=path,
            c=len(config.connectors),
            g=len(config.groups),
        ),
        highlight=False,
        soft_wrap=True,
    )
    for line in service.describe(config):
        out.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


@config_app.command("init")
def config_init(path: ConfigOption = DEFAULT_CONFIG) -> None:
    """Write a starting qunzhu.toml: the console connector and a trial group with every
    policy on (`qunzhu run` then lets you try them in the terminal)."""
    from qunzhu.config import starter as starter_config

    if path.exists():
        raise fail(tr("{path} exists already; not overwritten", path=path))
    try:
        path.write_text(starter_config(), encoding="utf-8")
    except OSError as exc:
        raise fail(tr("cannot write {path}: {why}", path=path, why=os_reason(exc))) from None
    out.print(tr("Wrote {path}; try `qunzhu run`", path=path), highlight=False)


@app.command()
def run(path: ConfigOption = DEFAULT_CONFIG, database: DbOption = None) -> None:
    """Run the connectors and policies of qunzhu.toml until Ctrl-C; then finish what was
    received and send what is due before exiting."""
    from qunzhu import service
    from qunzhu.config import ConfigError
    from qunzhu.engine import outbox
    from qunzhu.engine.runtime import Runtime
    from qunzhu.store import db
    from qunzhu.store.db import StoreError

    config = _config(path)
    try:
        secrets = config.secrets()
        setups = service.setups(config, path.parent)
        connectors = service.connectors(config, secrets)
        engine = db.open_store(database or config.store.url)
    except (ConfigError, StoreError) as exc:
        raise fail(str(exc)) from None
    runtime = Runtime(engine, setups, connectors)
    err.print(
        tr(
            "qunzhu is running: {g} group(s) on {c}. Ctrl-C stops.",
            g=len(config.groups),
            c=", ".join(connectors) or "-",
        ),
        highlight=False,
    )
    asyncio.run(service.serve(runtime, config, base=path.parent))
    left = outbox.waiting(engine)
    err.print(tr("Stopped. Actions still queued: {n}", n=left), highlight=False)


@app.command()
def replay(
    group: Annotated[str | None, typer.Option(help="A group's name, id or platform id.")] = None,
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (local).")] = None,
    path: ConfigOption = DEFAULT_CONFIG,
    model: ModelOption = DEFAULT_MODEL,
    decisions: Annotated[
        Path | None,
        typer.Option("--decisions", help="Write one JSON line per message that got a decision."),
    ] = None,
    as_json: JsonOption = False,
    database: DbOption = None,
) -> None:
    """Run stored history through the policies, sending nothing: what qunzhu would have
    deleted, warned, kicked and welcomed. Groups not in qunzhu.toml (or without one) get
    moderation in enforce mode and a welcome."""
    from qunzhu import service
    from qunzhu.config import ConfigError
    from qunzhu.engine.replay import replay as replay_history
    from qunzhu.moderation import feedback
    from qunzhu.store import db
    from qunzhu.store.db import StoreError
    from qunzhu.store.queries import matching_groups

    first = _date_option(since, "--since")
    config = _config(path) if path.exists() else None
    try:
        engine = db.open_store(database or (config.store.url if config else None))
        with engine.connect() as conn:
            chosen = [gid for gid, _ in matching_groups(conn, group, None)]
            labels = feedback.labels_since(conn, None)  # what people taught the engine
        policies_for = service.replay_policies(config, path.parent, _detector(model), labels)
    except (ConfigError, StoreError) as exc:
        raise fail(str(exc)) from None
    if group and not chosen:
        raise fail(tr("no group matches {what}", what=group))
    target = decisions.with_name(decisions.name + ".part") if decisions else None
    try:
        sink = target.open("w", encoding="utf-8") if target else None
    except OSError as exc:
        raise fail(tr("cannot write {path}: {why}", path=decisions, why=os_reason(exc))) from None
    try:
        write = (lambda j: sink.write(orjson.dumps(j.as_dict()).decode() + "\n")) if sink else None
        results = replay_history(engine, policies_for, chosen, first, write)
    finally:
        if sink:
            sink.close()
    if target and decisions:
        target.replace(decisions)  # whole or not at all
    _print_replay(results, as_json)


def _print_replay(results: list[GroupReplay], as_json: bool) -> None:
    if as_json:
        totals: Counter[str] = Counter()
        for r in results:
            totals.update(r.actions)
        body = {"groups": [r.as_dict() for r in results], "actions": dict(sorted(totals.items()))}
        sys.stdout.write(orjson.dumps(body).decode() + "\n")
        return
    table = Table(title=tr("What qunzhu would have done"))
    columns = {
        "delete": tr("deleted"),
        "warn": tr("warned"),
        "mute": tr("muted"),
        "kick": tr("kicked"),
        "ban": tr("banned"),
        "send": tr("messages sent"),
        "notify_owner": tr("admins told"),
    }
    for title in (tr("group"), tr("messages"), *columns.values()):
        table.add_column(title, overflow="fold")
    for r in results:
        table.add_row(r.name, str(r.messages), *(str(r.actions.get(c, 0)) for c in columns))
    out.print(table)


@app.command("tasks")
def tasks_(
    done: Annotated[
        list[int] | None, typer.Option("--done", help="Mark this task handled (repeatable).")
    ] = None,
    as_json: JsonOption = False,
    database: DbOption = None,
) -> None:
    """What waits for a person: actions a platform cannot do, messages that may or may not
    have gone out, actions the platform refused."""
    from qunzhu.engine import outbox
    from qunzhu.store import db
    from qunzhu.store.db import StoreError

    try:
        engine = db.open_store(database)
    except StoreError as exc:
        raise fail(str(exc)) from None
    if done:
        n = outbox.handled(engine, done, int(datetime.now(UTC).timestamp() * 1000))
        if n < len(set(done)):
            raise fail(tr("{n} of these are not waiting tasks", n=len(set(done)) - n))
        out.print(tr("{n} task(s) marked handled", n=n), highlight=False)
        return
    waiting = outbox.tasks(engine)
    if as_json:
        sys.stdout.write(orjson.dumps([w.as_dict() for w in waiting]).decode() + "\n")
        return
    if not waiting:
        out.print(tr("Nothing waits for a person."), highlight=False)
        return
    table = Table(title=tr("Waiting for a person"))
    for title in ("#", tr("status"), tr("group"), tr("action"), tr("what")):
        table.add_column(title, overflow="fold")
    for w in waiting:
        what = " / ".join(x for x in (w.text, w.error) if x)
        table.add_row(str(w.id), tr(w.status), w.group_id, w.kind, what)
    out.print(table)


MemberArg = Annotated[str, typer.Argument(help="The member's platform id (or display name).")]
PlatformOption = Annotated[str | None, typer.Option(help="Only members of this platform.")]


def _one_member(conn: Connection, ref: str, platform: str | None) -> int:
    from qunzhu.store.privacy import find_members

    found = find_members(conn, ref, platform)
    if not found:
        raise fail(tr("no member {ref!r}", ref=ref))
    if len(found) > 1:
        raise fail(tr("{n} members match {ref!r}; add --platform", n=len(found), ref=ref))
    return found[0]


def _tags(
    ref: str,
    platform: str | None,
    database: str | None,
    change: Callable[[Connection, int], object] | None = None,
) -> None:
    """Change a member's tags (or not), then show them."""
    from qunzhu.store import db
    from qunzhu.store import tags as member_tags
    from qunzhu.store.db import StoreError

    try:
        engine = db.open_store(database)
        with engine.begin() as conn:
            member = _one_member(conn, ref, platform)
            if change is not None:
                change(conn, member)
            now = member_tags.of_member(conn, member)
    except (StoreError, ValueError) as exc:
        raise fail(str(exc)) from None
    out.print(tr("{ref}: {tags}", ref=ref, tags=", ".join(now) or "-"), highlight=False)


@tags_app.command("add")
def tags_add(
    member: MemberArg,
    tag: Annotated[list[str], typer.Argument(help="Tags to give.")],
    platform: PlatformOption = None,
    database: DbOption = None,
) -> None:
    """Give a member tags (admission rules can approve or reject by them)."""
    from qunzhu.store import tags as member_tags

    _tags(member, platform, database, lambda conn, m: member_tags.add(conn, m, tag))


@tags_app.command("remove")
def tags_remove(
    member: MemberArg,
    tag: Annotated[list[str], typer.Argument(help="Tags to take away.")],
    platform: PlatformOption = None,
    database: DbOption = None,
) -> None:
    """Take tags away from a member."""
    from qunzhu.store import tags as member_tags

    _tags(member, platform, database, lambda conn, m: member_tags.remove(conn, m, tag))


@tags_app.command("list")
def tags_list(
    member: MemberArg, platform: PlatformOption = None, database: DbOption = None
) -> None:
    """A member's tags."""
    _tags(member, platform, database)


CommunityOption = Annotated[str, typer.Option("--community", help="The community's name.")]


def _community(conn: Connection, name: str) -> int:
    from sqlalchemy import select

    from qunzhu.store import schema as t

    found = conn.execute(
        select(t.communities.c.id).where(t.communities.c.name == name)
    ).scalar_one_or_none()
    if found is None:
        raise fail(tr("no community named {name!r}", name=name))
    return int(found)


def _blocked_member(conn: Connection, ref: str, platform: str | None) -> int:
    """The member `ref` names; one the store has never met is added when `platform` says
    where (a spammer known from elsewhere is kept out before they arrive)."""
    from qunzhu.model import Platform
    from qunzhu.store import schema as t
    from qunzhu.store.privacy import find_members

    if find_members(conn, ref, platform) or platform is None:
        return _one_member(conn, ref, platform)
    try:
        where = Platform(platform).value
    except ValueError:
        raise fail(tr("no platform {name!r}", name=platform)) from None
    return int(
        conn.execute(
            t.members.insert().values(platform=where, external_id=ref, provisional=False)
        ).inserted_primary_key[0]
    )


@blocklist_app.command("add")
def blocklist_add(
    members: Annotated[list[str], typer.Argument(help="Platform ids (or display names).")],
    community: CommunityOption,
    reason: Annotated[str, typer.Option(help="Why they are kept out.")],
    platform: Annotated[
        str | None,
        typer.Option(help="Their platform; with it, ids the store has not met are blocked too."),
    ] = None,
    database: DbOption = None,
) -> None:
    """Keep members out of every group of a community (all or none are added)."""
    import getpass

    from qunzhu.store import blocklist, db
    from qunzhu.store.db import StoreError

    why = " ".join(reason.split())
    if not why or len(why) > blocklist.REASON_MAX:
        raise fail(tr("say why (1 to {n} characters)", n=blocklist.REASON_MAX))
    try:
        with db.open_store(database).begin() as conn:
            cid = _community(conn, community)
            added = sum(
                blocklist.add(
                    conn,
                    cid,
                    _blocked_member(conn, ref, platform),
                    why,
                    added_by=f"cli:{getpass.getuser()}",
                )
                for ref in members
            )
    except StoreError as exc:
        raise fail(str(exc)) from None
    out.print(tr("{n} added to the blocklist of {community}", n=added, community=community))


@blocklist_app.command("remove")
def blocklist_remove(
    members: Annotated[list[str], typer.Argument(help="Platform ids (or display names).")],
    community: CommunityOption,
    platform: PlatformOption = None,
    database: DbOption = None,
) -> None:
    """Let members back into a community's groups."""
    from qunzhu.store import db
    from qunzhu.store.db import StoreError

    try:
        with db.open_store(database).begin() as conn:
            cid = _community(conn, community)
            gone = sum(_unblock(conn, cid, ref, platform) for ref in members)
    except StoreError as exc:
        raise fail(str(exc)) from None
    out.print(tr("{n} taken off the blocklist of {community}", n=gone, community=community))


def _unblock(conn: Connection, community_id: int, ref: str, platform: str | None) -> bool:
    """Take a member off the blocklist; one whose data was deleted, whom the store cannot
    name, by the id the operator gives with `platform`."""
    from qunzhu.model import Platform
    from qunzhu.store import blocklist
    from qunzhu.store.privacy import find_members

    if platform is not None and not find_members(conn, ref, platform):
        try:
            where = Platform(platform).value
        except ValueError:
            raise fail(tr("no platform {name!r}", name=platform)) from None
        if blocklist.remove_forgotten(conn, community_id, where, ref):
            return True
    return blocklist.remove(conn, community_id, _one_member(conn, ref, platform))


@blocklist_app.command("list")
def blocklist_list(
    community: Annotated[str | None, typer.Option(help="Only this community.")] = None,
    database: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who is on the blocklists, why, since when and on whose word (newest first)."""
    from sqlalchemy import select

    from qunzhu.store import blocklist, db
    from qunzhu.store import schema as t
    from qunzhu.store.db import StoreError

    try:
        with db.open_store(database).connect() as conn:
            names = dict(conn.execute(select(t.communities.c.id, t.communities.c.name)).all())
            wanted = [_community(conn, community)] if community else list(names)
            entries = blocklist.entries(conn, wanted, limit=100_000)
    except StoreError as exc:
        raise fail(str(exc)) from None
    rows = [
        {
            "community": names[e.community_id],
            "platform": e.platform,
            "member": e.external_id,
            "name": e.name,
            "reason": e.reason,
            "group": e.group_name,
            "added_by": e.added_by,
            "at": e.at,
        }
        for e in entries
    ]
    if as_json:
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return
    table = Table(title=tr("Blocklist"))
    for title in (tr("community"), tr("member"), tr("reason"), tr("by")):
        table.add_column(title, overflow="fold")
    for r in rows:
        who = f"{r['name']} ({r['member']})" if r["name"] else r["member"]
        table.add_row(r["community"], who, r["reason"], r["added_by"] or tr("the engine"))
    out.print(table)


# -- the console ----------------------------------------------------------------------------

DEMO_USER = "demo"
users_app = typer.Typer(help="Who may log in to the console.", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _everyone() -> User:
    from qunzhu.store import accounts

    return accounts.User(0, "", "admin", 0, frozenset())


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt(tr("Password"), hide_input=True)
    if typer.prompt(tr("Password again"), hide_input=True) != first:
        raise fail(tr("the two passwords differ"))
    return str(first)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[Role, typer.Option(help="admin, operator or viewer.")] = Role.OPERATOR,
    community: Annotated[
        list[str] | None, typer.Option("--community", help="A community they work in (repeat).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    database: DbOption = None,
) -> None:
    """Let someone log in to the console."""
    from qunzhu.store import accounts, db
    from qunzhu.store.db import StoreError

    password = _password(password_stdin)
    try:
        engine = db.open_store(database)
        with engine.begin() as conn:
            accounts.add_user(conn, name, password, role.value, community or [])
    except (StoreError, accounts.AccountError) as exc:
        raise fail(str(exc)) from None
    out.print(tr("User {name} added ({role})", name=name, role=tr(role.value)), highlight=False)


@users_app.command("list")
def users_list(database: DbOption = None, as_json: JsonOption = False) -> None:
    """Everyone who may log in, with their role and communities."""
    from qunzhu.store import accounts, db
    from qunzhu.store.db import StoreError

    try:
        engine = db.open_store(database)
        with engine.connect() as conn:
            rows = accounts.list_users(conn)
    except StoreError as exc:
        raise fail(str(exc)) from None
    if as_json:
        body = [{"name": n, "role": r, "communities": c} for n, r, c in rows]
        sys.stdout.write(orjson.dumps(body).decode() + "\n")
        return
    table = Table()
    for title in (tr("Name"), tr("Role"), tr("Communities")):
        table.add_column(title)
    for name, role, communities in rows:
        table.add_row(name, tr(role), ", ".join(communities) or ("*" if role == "admin" else "-"))
    out.print(table)


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="The login name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    database: DbOption = None,
) -> None:
    """Set a new password; the user's open sessions end."""
    from qunzhu.store import accounts, db
    from qunzhu.store.db import StoreError

    password = _password(password_stdin)
    try:
        engine = db.open_store(database)
        with engine.begin() as conn:
            accounts.set_password(conn, name, password)
    except (StoreError, accounts.AccountError) as exc:
        raise fail(str(exc)) from None
    out.print(tr("Password of {name} changed", name=name), highlight=False)


@users_app.command("token")
def users_token(
    name: Annotated[str, typer.Argument(help="The login name.")],
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
    database: DbOption = None,
) -> None:
    """A personal API token (Authorization: Bearer ...); shown once."""
    from sqlalchemy import select

    from qunzhu.store import accounts, db, schema
    from qunzhu.store.db import StoreError

    try:
        engine = db.open_store(database)
        with engine.begin() as conn:
            found = [n for n, _, _ in accounts.list_users(conn)]
            if name not in found:
                raise accounts.AccountError(tr("no user {name!r}", name=name))
            user_id = conn.execute(
                select(schema.users.c.id).where(schema.users.c.name == name)
            ).scalar_one()
            token = accounts.new_token(conn, user_id, label)
    except (StoreError, accounts.AccountError) as exc:
        raise fail(str(exc)) from None
    sys.stdout.write(token + "\n")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    path: ConfigOption = DEFAULT_CONFIG,
    database: DbOption = None,
) -> None:
    """Run the console (and, when qunzhu.toml names connectors, the engine with them)."""
    from qunzhu.store import db
    from qunzhu.store.db import StoreError

    config = _config(path) if path.exists() else None
    try:
        engine = db.open_store(database or (config.store.url if config else None))
    except StoreError as exc:
        raise fail(str(exc)) from None
    listening = _listening(host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(
            tr(
                "Listening on {host}: anyone who reaches it sees the login; put HTTPS in front.",
                host=host,
            ),
            highlight=False,
        )
    out.print(tr("Console: http://{host}:{port}/", host=host, port=port), highlight=False)
    _serve(engine, listening, config, path)


def _serve(
    engine: Engine,
    listening: socket.socket,
    config: Config | None,
    path: Path = DEFAULT_CONFIG,
) -> None:
    import uvicorn

    from qunzhu import service
    from qunzhu.config import ConfigError
    from qunzhu.engine.runtime import Runtime
    from qunzhu.web import scorecard
    from qunzhu.web.app import create_app
    from qunzhu.web.refresh import refresh_snapshots

    secure = os.environ.get("QUNZHU_SECURE_COOKIES", "") == "1"
    app = create_app(engine, secure_cookies=secure, config=config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))

    async def main() -> None:
        tasks = [
            asyncio.create_task(refresh_snapshots(engine)),
            asyncio.create_task(asyncio.to_thread(scorecard.warm, app, engine)),
        ]
        if config is not None and config.connectors:  # the engine too
            try:
                setups = service.setups(config, path.parent)
                connectors = service.connectors(config, config.secrets())
            except ConfigError as exc:
                raise fail(str(exc)) from None
            stop = asyncio.Event()
            tasks.append(
                asyncio.create_task(
                    service.serve(
                        Runtime(engine, setups, connectors), config, stop, base=path.parent
                    )
                )
            )
        try:
            await server.serve(sockets=[listening])
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def _listening(host: str, port: int) -> socket.socket:
    """The console's socket, bound before anything starts: a port in use is then one line
    in the reader's language, not the web server's English log and exit code 3."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError:
        why = tr("no such host name")
    else:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return sock
        except OSError as exc:
            sock.close()
            why = os_reason(exc)
    raise fail(tr("cannot listen on {host}:{port}: {why}", host=host, port=port, why=why))


if __name__ == "__main__":  # python -m qunzhu.cli
    app()
