"""`qunzhu users` and `qunzhu serve` as an operator meets them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
from typer.testing import CliRunner

from qunzhu.cli import app

runner = CliRunner()


def test_users_add_list_passwd_token(tmp_path: Path) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'u.db'}"]
    made = runner.invoke(
        app,
        ["users", "add", "ann", "--role", "admin", "--password-stdin", *db],
        input="a good password\n",
    )
    assert made.exit_code == 0, made.output
    short = runner.invoke(app, ["users", "add", "bob", "--password-stdin", *db], input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    # a usage mistake, said before the password is asked for; the parser's choices are the
    # store's roles
    from qunzhu.cli import Role
    from qunzhu.store.accounts import ROLES

    assert tuple(Role) == ROLES
    role = runner.invoke(app, ["users", "add", "bob", "--role", "boss", *db])
    assert role.exit_code == 2 and "'boss' is not one of" in role.output
    assert "assword" not in role.output
    nowhere = runner.invoke(
        app,
        ["users", "add", "bob", "--community", "没有这个", "--password-stdin", *db],
        input="a good password\n",
    )
    assert nowhere.exit_code == 1 and "no community named" in nowhere.output
    again = runner.invoke(
        app, ["users", "add", "ann", "--password-stdin", *db], input="a good password\n"
    )
    assert again.exit_code == 1 and "exists already" in again.output
    listed = orjson.loads(runner.invoke(app, ["users", "list", "--json", *db]).stdout)
    assert listed == [{"name": "ann", "role": "admin", "communities": []}]
    changed = runner.invoke(
        app, ["users", "passwd", "ann", "--password-stdin", *db], input="another password\n"
    )
    assert changed.exit_code == 0
    nobody = runner.invoke(
        app, ["users", "passwd", "zed", "--password-stdin", *db], input="another password\n"
    )
    assert nobody.exit_code == 1 and "no user 'zed'" in nobody.output
    token = runner.invoke(app, ["users", "token", "ann", *db])
    assert token.exit_code == 0 and token.stdout.startswith("qz_")
    for result in (short, role, nowhere, again, nobody):
        assert "Traceback" not in result.output


def test_serve_binds_loopback_and_answers(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "QUNZHU_LANG": "en"}
    command = [sys.executable, "-m", "qunzhu.cli", "serve", "--port", str(port)]
    command += ["--db", f"sqlite:///{tmp_path / 's.db'}", "--config", str(tmp_path / "no.toml")]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.read() == b"ok"
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the console did not start"
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.url.endswith("/login?next=/")  # strangers are sent to log in
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)


def test_the_consoles_labels_train_the_content_model(tmp_path: Path) -> None:
    from qunzhu.moderation.model import ContentModel
    from qunzhu.moderation.normalize import normalize
    from qunzhu.store import db as store_db
    from tests.conftest import labelled_decision
    from tests.web.conftest import fill

    url = f"sqlite:///{tmp_path / 'l.db'}"
    world = fill(store_db.open_store(url))
    spam = ["兼职刷单日赚三百加微信", "代开发票联系我", "免费领取名牌包加群"] * 4
    ham = ["周六早上七点集合跑步", "谢谢大家的分享", "今天配速五分半"] * 4
    with world.engine.begin() as conn:
        for n, (label, text) in enumerate([("spam", x) for x in spam] + [("ham", x) for x in ham]):
            labelled_decision(conn, world.runners, label, text, n=n)
    model = tmp_path / "m.model"
    done = runner.invoke(app, ["moderation", "train", "--model", str(model), "--db", url])
    assert done.exit_code == 0, done.output
    assert "24 labels from the console's queue" in done.stdout
    trained = ContentModel.load(model)
    texts = [normalize("兼职刷单日赚三百加微信"), normalize("谢谢大家的分享")]
    spammy, fine = (s.probability for s in trained.scores(texts))
    assert spammy > fine
    elsewhere = runner.invoke(
        app, ["moderation", "train", "--model", str(model), "--db", url, "--community", "读书会"]
    )
    assert elsewhere.exit_code == 1 and "needs both labels" in elsewhere.output
