"""The live engine under load: N mixed events through the default policies on SQLite
(PostgreSQL with `--pg URL`: each store a schema of its own there, dropped afterwards).

    uv run python bench/engine.py --events 20000 --json
    uv run python bench/engine.py --events 20000 --crash --json
    uv run python bench/engine.py --events 20000 --training   # beside a learner's training
    uv run python bench/engine.py --events 20000 --blocklist 100000 --json
    uv run python bench/engine.py --events 20000 --blocklist 100000 --forgotten --json
    uv run python bench/engine.py --events 20000 --captcha --json
    uv run python bench/engine.py --events 20000 --pictures 0.1 --json
    uv run python bench/engine.py --events 20000 --pictures 0.1 --json \
        --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
    uv run python bench/engine.py --events 4000 --json --pg-delay-ms 0.5 \
        --pg postgresql+psycopg://postgres@127.0.0.1:5432/test   # the server across a network

Events (seeded, 20 groups, 400 members): messages (some of them ads), joins, leaves, renames and
join requests. Each is received (inbox), processed in micro-batches (stored like an import,
judged by moderation, welcome, admission, nickname and auto-reply, decisions and actions
committed together) and its actions executed by an in-process connector that logs every call.
Latency is from `receive` to the commit that processed the event.

`--crash` runs the same work in a child process, kills it (SIGKILL) part-way, twice, and starts
it again until it finishes; then counts events lost (generated but never processed) and actions
duplicated (a message, warning or welcome executed twice). Deletes, mutes and kicks cut by a kill
are repeated by design (repeating them changes nothing); they are reported as `repeated_safe`.

`--blocklist N` puts the 20 groups in one community, so each batch asks the community blocklist
about its members (without it the groups are in none and nothing is asked), with N strangers and
4 of the 400 members on the list beforehand; those 4 are removed wherever they speak or join,
and members the ladder bans join them. `kept_out` counts the decisions that kept someone out.
With `--forgotten` as well, the 4 are forgotten first and N more forgotten members' digests are
stored: each batch then also computes its members' digests and looks them up.

`--pictures SHARE` attaches a picture to that share of the messages (800×1000 JPEGs drawn
here: a tenth of them are 3 ad posters that travel across groups, the rest a picture of each
group's own): each is decoded for QR codes, fingerprinted and looked up among the day's
pictures, and the posters become `same_picture` decisions (questions, and spam where one
member posted one in three groups). The ad posters carry a WeChat id and a phone number: the
text of every picture from a member moderation checks is read on the reader's thread beside
the event path (`picture_text`: decisions made on what was read; `pictures_unread`: pictures
let go with 200 already waiting). What is still waiting when the events are done is read
after the timing stops.

`--captcha` puts the entry question (enforce, 180 s) first in every group. Nobody in the
generated chat answers it, so newcomers who speak within 3 minutes of joining lose that
message, and their third removes them; the held-back removals of the others stay pending.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

GROUPS, MEMBERS = 20, 400
PG: list[str] = []  # --pg: the server's URL
SCHEMAS: dict[Path, str] = {}  # each store's schema there, made at first use


def url(db: Path) -> str:
    """The store a bench file names: that SQLite file, or with --pg a schema of its own."""
    if not PG:
        return f"sqlite:///{db}"
    if db not in SCHEMAS:
        from sqlalchemy import create_engine, text

        SCHEMAS[db] = f"bench_{os.getpid()}_{len(SCHEMAS)}"
        admin = create_engine(PG[0])
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {SCHEMAS[db]}"))
        admin.dispose()
    return f"{PG[0]}?options=-csearch_path%3D{SCHEMAS[db]}"


def delayed(pg: str, delay_ms: float) -> str:
    """The URL of a proxy to the server at `pg` that holds every chunk it forwards for
    `delay_ms`, in order, each way: the engine's statements as they go to a database on
    another host. Runs in a thread of its own for the life of the bench."""
    import threading
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(pg)
    target = (parts.hostname or "127.0.0.1", parts.port or 5432)
    ready: list[int] = []
    started = threading.Event()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get())[1]:
                await asyncio.sleep(max(0.0, item[0] - time.monotonic()))
                writer.write(item[1])
                await writer.drain()
            writer.close()

        sending = asyncio.create_task(deliver())
        while chunk := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay_ms / 1000, chunk))
        queue.put_nowait((0.0, b""))
        await sending

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*target)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def serve() -> None:
        server = await asyncio.start_server(client, "127.0.0.1", 0)
        ready.append(server.sockets[0].getsockname()[1])
        started.set()
        await server.serve_forever()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    started.wait()
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{ready[0]}"
    netloc = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
    return urlunsplit(parts._replace(netloc=netloc))


def round_trip_ms(pg: str) -> float:
    """The median time of `SELECT 1` on the server, as the engine reaches it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(pg)
    with engine.connect() as conn:
        times = []
        for _ in range(101):
            start = time.perf_counter()
            conn.execute(text("SELECT 1"))
            times.append(time.perf_counter() - start)
    engine.dispose()
    return sorted(times)[50] * 1000


def drop_schemas() -> None:
    from sqlalchemy import create_engine, text

    if SCHEMAS:
        admin = create_engine(PG[0])
        with admin.begin() as conn:
            for schema in SCHEMAS.values():
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


KEPT_OUT = 4  # with --blocklist: members u0-u3 are on it from the start
ADS = ["代购名牌包包，加微信 abc{n} 详聊", "兼职刷单日赚300，私聊 vx{n}", "无抵押贷款 138{n:08d}"]
CHAT = ["今天跑了十公里", "周六几点集合？", "谢谢分享", "这个方法不错，学到了", "早上好", "收到"]
# what the detector asks an admin about (--second-opinion: what the language model reads)
QUESTIONS = ["代购 加V", "兼职找我{n}", "联系 138{n:08d}", "这个群真垃圾 滚蛋"]


@functools.cache
def posters() -> list[bytes]:
    """40 different pictures: blocks of colour on a tinted ground, as a JPEG a phone sends;
    the first 3 (the ads) say where to write to."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    out = []
    for seed in range(40):
        rng = random.Random(seed)
        image = Image.new("RGB", (800, 1000), (rng.randrange(256), 200, 120))
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.randrange(700), rng.randrange(900)
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            draw.rectangle((x, y, x + rng.randrange(40, 300), y + rng.randrange(20, 200)), colour)
        if seed < 3:
            face = ImageFont.load_default(56)
            draw.rectangle((40, 420, 760, 600), (255, 255, 255))
            draw.text((60, 440), f"VX: ad{seed}x2026", fill=(0, 0, 0), font=face)
            draw.text((60, 520), f"Tel 1381234567{seed}", fill=(0, 0, 0), font=face)
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def events(n: int, pictures: float = 0.0, questions: float = 0.0):  # type: ignore[no-untyped-def]
    from qunzhu.model import (
        Group,
        JoinMethod,
        MembershipAction,
        MembershipEvent,
        Message,
        MessageKind,
        Person,
        Platform,
    )
    from qunzhu.model.live import JoinRequest, LiveEvent

    rng = random.Random(7)
    drawn = posters() if pictures else []
    groups = [Group(Platform.TELEGRAM, f"-100{g}", f"群{g}") for g in range(GROUPS)]
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(n):
        g = rng.randrange(GROUPS)
        group = groups[g]
        who = f"u{rng.randrange(MEMBERS)}"
        person = Person(who, f"城市-行业-{who}" if rng.random() < 0.7 else who)
        at = t0 + timedelta(seconds=i * 3)
        roll = rng.random()
        if roll < 0.80:
            text = rng.choice(ADS).format(n=i) if rng.random() < 0.05 else rng.choice(CHAT)
            if questions and rng.random() < questions:  # drawn only then: the other runs'
                text = rng.choice(QUESTIONS).format(n=i)  # streams stay as they were
            record = Message(str(i), person, at, MessageKind.TEXT, text)
            if drawn and rng.random() < pictures:
                # an ad poster travels; the other pictures stay in their group (its own)
                ad = rng.random() < 0.1
                poster = drawn[rng.randrange(3)] if ad else drawn[3 + g % (len(drawn) - 3)]
                kinds = frozenset({"image"})
                yield LiveEvent("tg", group, record, kinds=kinds, images=(poster,))
                continue
        elif roll < 0.90:
            record = MembershipEvent(f"j{i}", person, MembershipAction.JOIN, at, JoinMethod.LINK)
        elif roll < 0.95:
            record = MembershipEvent(f"l{i}", person, MembershipAction.LEAVE, at)
        elif roll < 0.98:
            record = JoinRequest(f"r{i}", person, at, rng.choice(["跑步", "路过", "加微信"]))
        else:
            record = MembershipEvent(
                f"n{i}", person, MembershipAction.RENAME, at, new_name=f"北京-IT-{who}"
            )
        yield LiveEvent("tg", group, record)


class LoggingConnector:
    name = "tg"

    def __init__(self, log: Path | None) -> None:
        from qunzhu.model.live import ActionKind

        self.capabilities = frozenset(ActionKind) - {ActionKind.NOTIFY_OWNER}
        self.calls: list[tuple[int, str]] = []
        self._log = log.open("a", encoding="utf-8") if log else None

    async def run(self, emit) -> None:  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()

    async def execute(self, action) -> None:  # type: ignore[no-untyped-def]
        self.calls.append((action.id, action.kind.value))
        if self._log:  # what reached the platform survives the kill that follows
            self._log.write(f"{action.id}\t{action.kind.value}\n")
            self._log.flush()
            os.fsync(self._log.fileno())


def runtime(
    db: Path, connector: LoggingConnector, captcha: bool = False, opinion_ms: float | None = None
):  # type: ignore[no-untyped-def]
    from qunzhu.engine.policies import (
        AdmissionPolicy,
        Answer,
        AutoReplyPolicy,
        CaptchaPolicy,
        ModerationPolicy,
        NicknamePolicy,
        WelcomePolicy,
    )
    from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
    from qunzhu.moderation.behaviour import Behaviour, TrustBook
    from qunzhu.moderation.enforcement import Ladder, Mode
    from qunzhu.moderation.engine import Detector
    from qunzhu.store.db import open_store

    policies = [
        ModerationPolicy(Detector(behaviour=Behaviour(), trust=TrustBook()), Ladder(Mode.ENFORCE)),
        WelcomePolicy(rules="群规：不发广告", batch_s=0),
        AdmissionPolicy(answers=("跑步",), reject_words=("加微信",)),
        NicknamePolicy(pattern=r"[^-]+-[^-]+-[^-]+"),
        AutoReplyPolicy((Answer(("几点",), "每周六早上七点。"),)),
    ]
    if captcha:  # first, as `service.policies_of` puts it
        policies.insert(0, CaptchaPolicy(Mode.ENFORCE, timeout_s=180))
        policies[2] = WelcomePolicy(rules="群规：不发广告", batch_s=0, after_captcha=True)
    engine = open_store(url(db))
    rt = Runtime(engine, Setups(default=GroupSetup(policies)), {"tg": connector})
    if opinion_ms is not None:  # the model answers each call after opinion_ms
        from qunzhu.engine.opinions import SecondOpinions

        policies[0].second_opinion = "questions"  # type: ignore[attr-defined]

        def ask(chat: list[dict[str, str]]) -> str:
            time.sleep(opinion_ms / 1000)
            said = chat[1]["content"].split("<<<", 1)[1]
            label = (
                "abuse" if "滚蛋" in said else "ad" if "加V" in said or "兼职" in said else "normal"
            )
            return json.dumps({"label": label, "confidence": 0.9, "reason": "bench"})

        rt.opinions = SecondOpinions(rt.accept, ask, "bench", daily=10**9)
    return rt


def community(db: Path, blocked: int, forgotten: bool = False) -> None:
    """Every bench group in the community "bench", and `blocked` strangers on its blocklist
    (with `forgotten`, as many forgotten members' digests too, and u0-u3 forgotten)."""
    from qunzhu.store import schema as t
    from qunzhu.store.bulk import insert_ignore
    from qunzhu.store.db import open_store
    from qunzhu.store.ingest import place_group

    engine = open_store(url(db))
    with engine.begin() as conn:
        for g in range(GROUPS):
            place_group(conn, "telegram", f"-100{g}", f"群{g}", "bench")
        cid = conn.execute(select(t.communities.c.id)).scalar_one()
        people = [("telegram", f"stranger{i}", False) for i in range(blocked)]
        people += [("telegram", f"u{i}", False) for i in range(KEPT_OUT)]
        insert_ignore(conn, t.members, ("platform", "external_id", "provisional"), people)
        ids = conn.execute(select(t.members.c.id)).scalars().all()
        rows = [(cid, member, "bench", 0) for member in ids]
        insert_ignore(conn, t.blocklist, ("community_id", "member_id", "reason", "at"), rows)
    if forgotten:
        from qunzhu.store import blocklist
        from qunzhu.store.privacy import find_members, forget_member

        with engine.begin() as conn:
            for i in range(KEPT_OUT):
                forget_member(conn, find_members(conn, f"u{i}", "telegram")[0])
            key = blocklist._made_key(conn)  # made when u0 was forgotten
            digests = [
                (cid, "telegram", blocklist.digest(key, "telegram", f"gone{i}"), 0, 0)
                for i in range(blocked)
            ]
            columns = ("community_id", "platform", "digest", "at", "forgotten_at")
            insert_ignore(conn, t.forgotten_blocks, columns, digests)
    engine.dispose()


def work(
    db: Path,
    n: int,
    batch: int,
    log: Path | None,
    captcha: bool = False,
    pictures: float = 0.0,
    questions: float = 0.0,
    opinion_ms: float | None = None,
) -> tuple[dict[str, float], list[tuple[int, str]]]:
    """Receive, process and execute all n events; resumable after a kill. Returns the figures
    and every call that reached the connector."""
    from qunzhu.engine import outbox

    connector = LoggingConnector(log)
    rt = runtime(db, connector, captcha, opinion_ms)
    gc.collect()
    gc.freeze()  # as `qunzhu run` does once the models are loaded
    recovered = outbox.recover(rt.engine)
    latencies: list[float] = []
    pending: list[float] = []
    if log is not None:  # a --crash worker: the parent times its kill from here
        print("ready", flush=True)

    async def drive() -> float:  # one event loop, as `qunzhu run` has
        start = time.perf_counter()
        for event in events(n, pictures, questions):
            received = time.perf_counter()
            if rt.accept(event) is not None:
                pending.append(received)
            if len(pending) >= batch:
                rt.process(limit=10 * batch)
                done = time.perf_counter()
                latencies.extend(done - t for t in pending)
                pending.clear()
                await rt.executor.drain(limit=10_000)
        while rt.process(limit=10 * batch):
            pass
        done = time.perf_counter()
        latencies.extend(done - t for t in pending)
        while await rt.executor.drain(limit=10_000):
            pass
        await rt.executor.close()
        return time.perf_counter() - start

    elapsed = asyncio.run(drive())
    rt.reader.wait()  # the pictures still waiting to be read (not timed: beside the path)
    answered_s = 0.0
    if rt.opinions is not None:  # the answers still to come (timed apart: beside the path)
        start = time.perf_counter()
        rt.opinions.wait()
        answered_s = time.perf_counter() - start
    while rt.process(limit=10 * batch):
        pass
    rt.reader.close()
    if rt.opinions is not None:
        rt.opinions.close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[int(len(latencies) * p)] * 1000 if latencies else 0.0

    figures = {
        "seconds": elapsed,
        "received": len(latencies),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "actions": len(connector.calls),
        "kept_out": kept_out(rt.engine),
        "same_picture": decided_by(rt.engine, '%"name":"same_picture"%'),
        "picture_text": decided_by(rt.engine, '%"picture_text"%'),
        "pictures_unread": rt.reader.unread.total(),
        "held_for_the_model": decided_by(rt.engine, '%"step":"ask_model"%'),
        "settled_by_the_model": decided_by(rt.engine, '%"name":"language_model","verdict":"spam"%')
        + decided_by(rt.engine, '%"name":"language_model","verdict":"ham"%'),
        "asked_an_admin": decided_by(rt.engine, '%"step":"ask_admin"%'),
        "answers_after_the_last_event_s": answered_s,
        # the engine's process, and the reader's child process (its models), at their peaks
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "reader_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024,
        **{f"recovered_{k}": v for k, v in recovered.items()},
    }
    return figures, connector.calls


def kept_out(engine) -> int:  # type: ignore[no-untyped-def]
    return decided_by(engine, '%"blocklist":%')


def decided_by(engine, pattern: str) -> int:  # type: ignore[no-untyped-def]
    """Decisions whose reasons match the LIKE pattern."""
    from qunzhu.store import schema as t

    d = t.decisions
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(d.c.reasons.like(pattern))).scalar_one()


def floor(db: Path, n: int, batch: int, pictures: float = 0.0) -> float:
    """Seconds for the least any durable engine must do: write each event to the inbox as it
    arrives and mark each batch processed in one commit (no store, no policies, no actions)."""
    from sqlalchemy import update

    from qunzhu.engine.runtime import Runtime, Setups
    from qunzhu.store import schema as t
    from qunzhu.store.db import open_store

    rt = Runtime(open_store(url(db)), Setups(), {})
    pending = 0
    start = time.perf_counter()
    for event in events(n, pictures):
        rt.accept(event)
        pending += 1
        if pending >= batch:
            with rt.engine.begin() as conn:
                conn.execute(
                    update(t.inbox).where(t.inbox.c.processed_at.is_(None)).values(processed_at=1)
                )
            pending = 0
    return time.perf_counter() - start


def counts(db: Path, n: int, log: Path | None, calls: list[tuple[int, str]]) -> dict[str, int]:
    from qunzhu.engine import outbox
    from qunzhu.store import schema as t
    from qunzhu.store.db import open_store

    engine = open_store(url(db))
    with engine.connect() as conn:
        processed = conn.execute(  # the generated events, not what the reader or the
            select(func.count()).where(  # language model handed back
                t.inbox.c.processed_at.is_not(None),
                t.inbox.c.key.not_like("%:PictureText:%"),
                t.inbox.c.key.not_like("%:Opinion:%"),
            )
        ).scalar_one()
        statuses = dict(
            conn.execute(select(t.outbox.c.status, func.count()).group_by(t.outbox.c.status)).all()
        )
    if log is not None:
        lines = log.read_text("utf-8").splitlines()
        calls = [(int(a), k) for a, k in (line.split("\t") for line in lines)]
    seen = Counter(a for a, _ in calls)
    kinds = dict(calls)
    twice = [a for a, c in seen.items() if c > 1]
    safe = [a for a in twice if kinds[a] in {k.value for k in outbox.IDEMPOTENT}]
    return {
        "lost": n - processed,
        "duplicated": len(twice) - len(safe),
        "repeated_safe": len(safe),
        "uncertain": statuses.get(outbox.UNCERTAIN, 0),
        "pending_left": statuses.get(outbox.PENDING, 0) + statuses.get(outbox.IN_FLIGHT, 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=20, help="events per processing commit")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--crash", action="store_true", help="kill the worker twice on the way")
    parser.add_argument(
        "--training", action="store_true", help="again while a process trains a content model"
    )
    parser.add_argument(
        "--blocklist", type=int, help="groups in one community, N strangers on its blocklist"
    )
    parser.add_argument(
        "--forgotten",
        action="store_true",
        help="with --blocklist N: as many forgotten members' digests, the 4 members forgotten",
    )
    parser.add_argument(
        "--captcha", action="store_true", help="every group asks newcomers the entry question"
    )
    parser.add_argument(
        "--pictures", type=float, default=0.0, help="share of messages that carry a picture"
    )
    parser.add_argument(
        "--second-opinion",
        type=float,
        metavar="MS",
        help="3%% of messages are questions, read by a language model answering after MS ms; "
        "the same stream without it runs too (no_model_*)",
    )
    parser.add_argument("--pg", help="a PostgreSQL server's URL: the stores there, not SQLite")
    parser.add_argument(
        "--pg-delay-ms",
        type=float,
        default=0.0,
        help="with --pg: every packet to and from the server this much later (a database "
        "across a network; a round trip takes twice this, plus the timer's resolution)",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # child: the db path
    args = parser.parse_args()
    if args.pg and (args.crash or args.training):
        parser.error("--pg measures the plain run (with --pictures, --captcha, --blocklist)")
    if args.pg:
        PG.append(delayed(args.pg, args.pg_delay_ms) if args.pg_delay_ms else args.pg)
        try:
            run(args)
        finally:
            drop_schemas()
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    if args.training:
        print(json.dumps(beside_training(args.events, args.batch)))
        return
    if args.worker:
        log = args.worker.with_suffix(".calls")
        print(json.dumps(work(args.worker, args.events, args.batch, log)[0]), flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        if args.blocklist is not None:
            community(db, args.blocklist, args.forgotten)
        if args.crash:
            result = crashing(db, args.events, args.batch)
            result.update(counts(db, args.events, db.with_suffix(".calls"), []))
        else:
            if args.pictures:
                posters()  # drawn before the clock starts
            share = 0.03 if args.second_opinion is not None else 0.0
            same = functools.partial(
                work,
                n=args.events,
                batch=args.batch,
                log=None,
                captcha=args.captcha,
                pictures=args.pictures,
                questions=share,
            )
            result, calls = same(db, opinion_ms=args.second_opinion)
            result.update(counts(db, args.events, None, calls))
            if args.second_opinion is not None:  # the same stream, questions asked of people
                alone, _ = same(Path(tmp) / "alone.db")
                result["no_model_events_per_s"] = args.events / alone["seconds"]
                result["no_model_asked_an_admin"] = alone["asked_an_admin"]
            floor_s = floor(Path(tmp) / "floor.db", args.events, args.batch, args.pictures)
            result["floor_events_per_s"] = args.events / floor_s
            result["ratio"] = result["seconds"] / floor_s
    result = {"events": args.events, "events_per_s": args.events / result["seconds"], **result}
    if PG:
        result["pg_round_trip_ms"] = round_trip_ms(PG[0])
    if args.json:
        rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}
        print(json.dumps(rounded))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


# What a community's learner does in its own process (moderation.learning): train a content
# model on 20,000 ordinary messages and 500 confirmed ads, again and again while the engine runs.
TRAINER = """
import random
from qunzhu.moderation.model import ContentModel
rng = random.Random(2)
chat = ["今天跑了{n}公里", "周六{n}点集合？", "谢谢分享，第{n}期", "这个方法不错{n}", "早上好{n}"]
ads = ["代购名牌包包，加微信 abc{n} 详聊", "兼职刷单日赚{n}，私聊 vx{n}", "无抵押贷款 138{n:08d}"]
texts = [rng.choice(chat).format(n=rng.randrange(10**6)) for _ in range(20000)]
texts += [rng.choice(ads).format(n=rng.randrange(10**6)) for _ in range(500)]
labels = [0] * 20000 + [1] * 500
print("ready", flush=True)
while True:
    ContentModel.train(texts, labels)
"""


def beside_training(n: int, batch: int) -> dict[str, float]:
    """Events per second alone and while a training process runs, alternated, twice each."""
    rates: dict[str, list[float]] = {
        "alone": [],
        "training": [],
        "alone_p99_ms": [],
        "training_p99_ms": [],
    }
    for _ in range(2):
        for mode in ("alone", "training"):
            trainer = None
            if mode == "training":
                trainer = subprocess.Popen(
                    [sys.executable, "-c", TRAINER], stdout=subprocess.PIPE, text=True
                )
                assert trainer.stdout is not None
                trainer.stdout.readline()  # "ready": the training itself has begun
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    result, _ = work(Path(tmp) / "bench.db", n, batch, None)
            finally:
                if trainer is not None:
                    trainer.kill()
                    trainer.wait()
            rates[mode].append(round(n / result["seconds"], 1))
            rates[f"{mode}_p99_ms"].append(round(result["p99_ms"], 1))
    return rates


def _processed(db: Path) -> int:
    from qunzhu.store import schema as t
    from qunzhu.store.db import open_store

    with open_store(url(db)).connect() as conn:
        return conn.execute(
            select(func.count()).where(t.inbox.c.processed_at.is_not(None))
        ).scalar_one()


def crashing(db: Path, n: int, batch: int) -> dict[str, float]:
    """Start the worker, kill it after a while, twice, then let it finish."""
    command = [sys.executable, __file__, "--events", str(n), "--batch", str(batch)]
    command += ["--worker", str(db)]
    start = time.perf_counter()
    kills, processed_at_kills = 0, []
    for wait in (0.7, 1.5):  # seconds of work before each kill
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        while child.stdout.readline().strip() != "ready":
            pass
        time.sleep(wait)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        processed_at_kills.append(_processed(db))
    last = subprocess.run(command, capture_output=True, text=True, check=True)
    out = json.loads(last.stdout.strip().splitlines()[-1])  # after "ready"
    out["seconds"] = time.perf_counter() - start
    out["kills"] = kills
    out["processed_at_kills"] = processed_at_kills
    return out


if __name__ == "__main__":
    main()
