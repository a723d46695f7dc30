"""`qunzhu config` and `qunzhu run` end to end, with the console connector in a terminal."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from qunzhu.cli import app
from qunzhu.engine.policies import NO_ADS
from qunzhu.store import db
from qunzhu.store import schema as t

runner = CliRunner()

CONFIG = """
[connectors.console]
type = "console"
group = "trial"

[[groups]]
name = "Trial"
connector = "console"
id = "trial"
[groups.policies.moderation]
mode = "enforce"
[groups.policies.welcome]
template = "Welcome %NICKNAME%!"
batch_s = 0
[groups.policies.auto_reply]
answers = [{ keywords = ["what time"], text = "Saturdays at seven." }]
[groups.policies.admission]
answers = ["running"]
"""

TYPED = "\n".join(
    [
        "/join Bo",
        "Bo: hello everyone",
        "Mei: 兼职刷单日赚300，加微信 abc12345 详聊",
        "Ann: what time do we run?",
        "/request Zed hello",
        "/quit",
        "",
    ]
)


def test_run_judges_what_is_typed_and_acts_then_stops(tmp_path: Path) -> None:
    cfg = tmp_path / "qunzhu.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'run.db'}"
    result = runner.invoke(app, ["run", "--config", str(cfg), "--db", url], input=TYPED)
    assert result.exit_code == 0, result.output
    said = result.stdout
    assert "Welcome @Bo!" in said
    assert "Saturdays at seven." in said
    assert NO_ADS in said  # the warning
    assert "Actions still queued: 0" in result.output
    engine = db.open_store(url)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(t.messages)).scalar_one()
        done = (
            conn.execute(
                select(t.outbox.c.kind).where(t.outbox.c.status == "done").order_by(t.outbox.c.id)
            )
            .scalars()
            .all()
        )
    assert stored == 3
    assert {"send", "delete", "warn"} <= set(done)

    # Zed's answer is not the group's: an admin must decide, and the console cannot tell one
    listed = runner.invoke(app, ["tasks", "--json", "--db", url])
    (task,) = orjson.loads(listed.stdout)
    assert task["kind"] == "notify_owner" and "Zed" in task["text"]
    assert task["status"] == "task"
    table = runner.invoke(app, ["tasks", "--db", url])
    assert table.exit_code == 0 and "notify_owner" in table.stdout
    settled = runner.invoke(app, ["tasks", "--done", str(task["id"]), "--db", url])
    assert settled.exit_code == 0 and "1 task(s) marked handled" in settled.stdout
    again = runner.invoke(app, ["tasks", "--done", str(task["id"]), "--db", url])
    assert again.exit_code == 1 and "not waiting" in again.output
    assert "Nothing waits" in runner.invoke(app, ["tasks", "--db", url]).stdout


def test_config_check_and_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "qunzhu.toml"
    made = runner.invoke(app, ["config", "init", "--config", str(cfg)])
    assert made.exit_code == 0 and cfg.exists()
    again = runner.invoke(app, ["config", "init", "--config", str(cfg)])
    assert again.exit_code == 1 and "not overwritten" in again.output
    checked = runner.invoke(app, ["config", "check", "--config", str(cfg)])
    assert checked.exit_code == 0, checked.output
    assert "1 connector(s), 1 group(s)" in checked.stdout
    assert "moderation (enforce), welcome, admission, nickname, auto_reply" in checked.stdout
    cfg.write_text(
        '[connectors.tg]\ntype = "telegram"\ntoken_env = "QZ_TEST_TOKEN"\n', encoding="utf-8"
    )
    monkeypatch.delenv("QZ_TEST_TOKEN", raising=False)
    missing = runner.invoke(app, ["config", "check", "--config", str(cfg)])
    assert missing.exit_code == 1
    assert "QZ_TEST_TOKEN is not set" in missing.output and "Traceback" not in missing.output
    monkeypatch.setenv("QZ_TEST_TOKEN", "123456:abcdefghijklmnopqrstuvwxyz0123456789")
    assert runner.invoke(app, ["config", "check", "--config", str(cfg)]).exit_code == 0
    cfg.write_text("[connectors\n", encoding="utf-8")
    broken = runner.invoke(app, ["run", "--config", str(cfg)])
    assert broken.exit_code == 1 and "not valid TOML" in broken.output
    nothing = runner.invoke(app, ["run", "--config", str(tmp_path / "none.toml")])
    assert nothing.exit_code == 1 and "qunzhu config init" in nothing.output


def test_a_missing_model_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "qunzhu.toml"
    cfg.write_text(
        CONFIG.replace('mode = "enforce"', 'mode = "enforce"\nmodel = "nope.model"'),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["config", "check", "--config", str(cfg)])
    assert result.exit_code == 1 and "nope.model" in result.output
    assert "Traceback" not in result.output


def test_configured_groups_are_stored_in_their_communities(tmp_path: Path) -> None:
    """Before its first message a configured group is in the store, in the community the file
    names, so the console shows it to that community's operators."""
    cfg = tmp_path / "qunzhu.toml"
    cfg.write_text(
        CONFIG.replace('id = "trial"\n', 'id = "trial"\ncommunity = "跑团"\n', 1)
        + '\n[[communities]]\nname = "跑团"\n',
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'run.db'}"
    engine = db.open_store(url)
    with engine.begin() as conn:  # stored earlier by an import, in no community
        conn.execute(t.groups.insert().values(platform="console", platform_id="trial", name="试"))
    result = runner.invoke(app, ["run", "--config", str(cfg), "--db", url], input="/quit\n")
    assert result.exit_code == 0, result.output
    g, c = t.groups, t.communities
    with engine.connect() as conn:
        rows = conn.execute(
            select(g.c.platform_id, g.c.name, c.c.name).join(c, c.c.id == g.c.community_id)
        ).all()
    assert [tuple(r) for r in rows] == [("trial", "试", "跑团")]


def test_run_asks_newcomers_the_entry_question(tmp_path: Path) -> None:
    cfg = tmp_path / "qunzhu.toml"
    cfg.write_text(
        CONFIG.replace("[groups.policies.auto_reply]", CAPTCHA + "[groups.policies.auto_reply]"),
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'run.db'}"
    typed = ["/join Bo", "Bo: running", "/join Mei", "Mei: 兼职刷单日赚300", "Mei: no", "/quit", ""]
    result = runner.invoke(app, ["run", "--config", str(cfg), "--db", url], input="\n".join(typed))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("What do we do on Saturdays?") == 2
    # Bo answered and stays; Mei's ad (sent at once, before she could read the question: not
    # an answer) and her one wrong try were taken down, and the try removed her
    engine = db.open_store(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.outbox.c.kind, t.outbox.c.status, t.outbox.c.payload).order_by(t.outbox.c.id)
        ).all()
    kicks = [(orjson.loads(r.payload)["member_id"], r.status) for r in rows if r.kind == "kick"]
    assert kicks == [("Bo", "cancelled"), ("Mei", "cancelled"), ("Mei", "done")]
    deletes = [(orjson.loads(r.payload)["reason"], r.status) for r in rows if r.kind == "delete"]
    assert sorted(d for d in deletes if d[0] == "captcha") == [("captcha", "done")] * 2
    # each question sent is taken down: at once if the answer came after it went out, else
    # when its time is up (how fast the typing was); only those may still wait
    tidy = [status for reason, status in deletes if reason == "expired"]
    assert len(tidy) == 2 and set(tidy) <= {"done", "pending"}
    waiting = [r for r in rows if r.status == "pending"]
    assert all(r.kind == "delete" for r in waiting)
    assert f"Actions still queued: {len(waiting)}" in result.output


CAPTCHA = """[groups.policies.captcha]
question = "What do we do on Saturdays?"
answers = ["run"]
tries = 1
"""


def test_run_asks_the_language_model_it_names(tmp_path: Path) -> None:
    """`qunzhu run` with a [language_model] (here a server on loopback answering as an
    OpenAI-compatible API does): a question is read by the model before the engine stops, a
    sure ad is removed with the usual warning, and the model's row is in the console's
    connectors table."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Model(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            said = json.dumps({"label": "ad", "confidence": 0.95, "reason": "代购引流"})
            body = json.dumps({"choices": [{"message": {"content": said}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    cfg = tmp_path / "qunzhu.toml"
    cfg.write_text(
        f'[language_model]\nurl = "http://127.0.0.1:{httpd.server_address[1]}/v1"\n'
        'model = "qwen2.5"\n'
        '[connectors.console]\ntype = "console"\ngroup = "trial"\n'
        '[[groups]]\nname = "Trial"\nconnector = "console"\nid = "trial"\n'
        '[groups.policies.moderation]\nmode = "enforce"\nsecond_opinion = "questions"\n',
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'run.db'}"
    typed = "Mei: 代购 加V\n/quit\n"
    try:
        result = runner.invoke(app, ["run", "--config", str(cfg), "--db", url], input=typed)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.exit_code == 0, result.output
    assert NO_ADS in result.stdout
    engine = db.open_store(url)
    with engine.connect() as conn:
        steps = [
            orjson.loads(r)["step"]
            for r in conn.execute(select(t.decisions.c.reasons).order_by(t.decisions.c.id))
            .scalars()
            .all()
        ]
        model = conn.execute(
            select(t.connector_status.c.kind, t.connector_status.c.state).where(
                t.connector_status.c.name == "[language_model]"
            )
        ).first()
    assert steps == ["ask_model", "delete_warn"]
    assert model is not None and tuple(model) == ("language_model", "running")


def test_a_wecom_customer_group_is_served_from_the_archive_file(tmp_path: Path) -> None:
    """The engine as `qunzhu run` runs it, with a WeCom connector following its file: a
    customer's ad in a group in training mode becomes a task (no app to tell the owner),
    staff are not judged, and the place in the file is kept for the next start."""
    import asyncio
    import json
    import tomllib

    from qunzhu import config, service
    from qunzhu.engine.runtime import Runtime

    archive = tmp_path / "messages.jsonl"
    archive.write_bytes(b"")
    (tmp_path / "messages.jsonl.qunzhu-offset").write_text("0")  # started before: resumes
    cfg = config.parse(
        tomllib.loads(
            f'[connectors.wx]\ntype = "wecom"\narchive = "{archive.as_posix()}"\n'
            '[[groups]]\nname = "跑团客户群"\nconnector = "wx"\nid = "wrROOM1"\n'
            '[groups.policies.moderation]\nmode = "training"\n'
        )
    )
    engine = db.open_store(f"sqlite:///{tmp_path / 'run.db'}")
    runtime = Runtime(engine, service.setups(cfg, tmp_path), service.connectors(cfg, {}))
    said = [("wmA", "兼职日结，日赚300，加V abc12345 详聊"), ("zhangsan", "加V abc12345 报名")]
    lines = [
        {"msgid": f"m{n}", "action": "send", "from": who, "tolist": [], "roomid": "wrROOM1",
         "msgtime": 1767225600000 + n, "msgtype": "text", "text": {"content": text}}
        for n, (who, text) in enumerate(said)
    ]  # fmt: skip
    archive.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))

    def queued() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(t.outbox.c.kind, t.outbox.c.status))]

    async def main() -> None:
        stop = asyncio.Event()
        served = asyncio.create_task(
            service.serve(runtime, cfg, stop, base=tmp_path, settings_every_s=0.1)
        )
        for _ in range(200):  # up to 10 s
            await asyncio.sleep(0.05)
            if queued():
                break
        stop.set()
        await served

    asyncio.run(main())
    assert queued() == [("notify_owner", "task")]
    with engine.connect() as conn:
        judged = conn.execute(select(t.decisions.c.member)).scalars().all()
    assert judged == ["wmA"]
    kept = (tmp_path / "messages.jsonl.qunzhu-offset").read_text().split()
    assert kept == [str(archive.stat().st_size), str(archive.stat().st_ino)]


def test_wecoms_callbacks_are_served_beside_the_engine(tmp_path: Path) -> None:
    """`qunzhu run` serves a WeCom connector's callback on its `listen` address: WeCom's URL
    check is answered, and a customer group's add_member becomes a stored join."""
    import asyncio
    import socket
    import tomllib

    import httpx

    from qunzhu import config, service
    from qunzhu.engine.runtime import Runtime
    from tests.connectors.fake_wecom import (
        ENCODING_AES_KEY,
        ROOM,
        TOKEN,
        FakeWeCom,
        app,
        change,
        encrypt,
        post,
        signed,
    )

    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = config.parse(
        tomllib.loads(
            f'[connectors.wecom]\ntype = "wecom"\narchive = "{(tmp_path / "m.jsonl").as_posix()}"\n'
            'corp_id = "ww1234"\nagent_id = 1000002\nsecret_env = "S"\n'
            'callback_token_env = "T"\ncallback_aes_key_env = "K"\n'
            f'listen = "127.0.0.1:{port}"\n'
            f'[[groups]]\nname = "客户群"\nconnector = "wecom"\nid = "{ROOM}"\n'
        )
    )
    connector = app(
        FakeWeCom(), tmp_path / "m.jsonl", callback_token=TOKEN, callback_aes_key=ENCODING_AES_KEY
    )
    engine = db.open_store(f"sqlite:///{tmp_path / 'run.db'}")
    runtime = Runtime(engine, service.setups(cfg, tmp_path), {"wecom": connector})

    def joins() -> list[str]:
        me = t.membership_events
        with engine.connect() as conn:
            return list(conn.execute(select(me.c.action)).scalars())

    async def main() -> tuple[str, int]:
        stop = asyncio.Event()
        served = asyncio.create_task(
            service.serve(runtime, cfg, stop, base=tmp_path, settings_every_s=0.1)
        )
        url = f"http://127.0.0.1:{port}/wecom"
        echo = encrypt(b"echo-42")
        async with httpx.AsyncClient() as client:
            for _ in range(100):  # the server starts with the engine
                try:
                    checked = await client.get(url, params=signed(echo, echostr=echo))
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            await connector._room(ROOM)  # the list before the change, as a running bot has it
            told = encrypt(change("add_member", "wmCustomer"))
            answered = await client.post(url, params=signed(told), content=post(told))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if joins():
                break
        stop.set()
        await served
        return checked.text, answered.status_code

    assert asyncio.run(main()) == ("echo-42", 200)
    assert joins() == ["join"]


def test_an_event_the_engine_cannot_process_is_set_aside_and_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug meeting one message: the messages after it are still judged and answered before
    `qunzhu run` stops, and the console's connectors say the engine set one aside."""
    from qunzhu.engine.policies import AutoReplyPolicy

    answering = AutoReplyPolicy.decide

    def fragile(self, event, marks):  # type: ignore[no-untyped-def]
        if getattr(event.record, "text", "") == "boom":
            raise ValueError("a bug met an unusual message")
        return answering(self, event, marks)

    monkeypatch.setattr(AutoReplyPolicy, "decide", fragile)
    cfg = tmp_path / "qunzhu.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'run.db'}"
    typed = "Bo: boom\nAnn: what time do we run?\n/quit\n"
    result = runner.invoke(app, ["run", "--config", str(cfg), "--db", url], input=typed)
    assert result.exit_code == 0, result.output
    assert "Saturdays at seven." in result.stdout  # the message after it was answered
    engine = db.open_store(url)
    cs = t.connector_status
    with engine.connect() as conn:
        row = conn.execute(select(cs.c.state, cs.c.last_error).where(cs.c.name == "[engine]")).one()
        waiting = conn.execute(
            select(func.count()).where(t.inbox.c.processed_at.is_(None))
        ).scalar_one()
    assert row.state == "failing"
    assert "set aside" in row.last_error and "a bug met an unusual message" in row.last_error
    assert waiting == 1  # kept for the next start


def test_the_engine_row_says_a_run_of_events_set_aside_once(tmp_path: Path) -> None:
    """A bug every event meets sets them aside one after the other: the console's row says
    the first (a write for each would double the work of every event)."""
    from qunzhu import service
    from qunzhu.engine.faults import Faults

    engine = db.open_store(f"sqlite:///{tmp_path / 'run.db'}")
    faults = Faults()
    said = service._said_set_aside(engine, faults)
    cs = t.connector_status

    def last_error() -> str:
        with engine.connect() as conn:
            return conn.execute(select(cs.c.last_error).where(cs.c.name == "[engine]")).scalar_one()

    for inbox_id in (7, 8, 9):
        faults.run += 1  # what `Faults` counts as it sets each aside
        said(inbox_id, ValueError(f"a bug met event {inbox_id}"))
    assert "7" in last_error() and "a bug met event 7" in last_error()
    faults.passed()  # an event went through: the next one set aside is said again
    faults.run += 1
    said(12, KeyError("x"))
    assert "12" in last_error() and "KeyError" in last_error()
