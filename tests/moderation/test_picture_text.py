"""Reading the text in pictures (moderation.images.picture_text) and the reader that does it
beside the event path (engine.reader)."""

from __future__ import annotations

import io
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from qunzhu.engine.reader import PictureReader, PictureUnread
from qunzhu.model import Group, Message, MessageKind, Person, Platform
from qunzhu.model.live import LiveEvent, PictureText
from qunzhu.moderation.engine import Detector
from qunzhu.moderation.images import picture_text
from qunzhu.moderation.verdicts import SPAM

CJK_FONTS = [
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
]


def poster_saying(
    *lines: str, font: Path | None = None, size: tuple[int, int] = (800, 1000)
) -> bytes:
    """A JPEG poster with these lines on it, as an ad account would post."""
    image = Image.new("RGB", size, (250, 240, 220))
    draw = ImageDraw.Draw(image)
    face = ImageFont.truetype(str(font), 56) if font else ImageFont.load_default(56)
    for i, line in enumerate(lines):
        draw.text((60, 200 + 160 * i), line, fill=(160, 0, 0), font=face)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def test_the_text_of_a_poster_is_read() -> None:
    text = picture_text(poster_saying("VX: abc12345", "Tel 13812345678"))
    assert "abc12345" in text and "13812345678" in text.replace(" ", "")
    blank = io.BytesIO()
    Image.new("RGB", (800, 1000), (30, 120, 200)).save(blank, "JPEG")
    assert picture_text(blank.getvalue()) == ""  # a picture without text


def test_a_chinese_ad_in_a_picture_reads_as_spam() -> None:
    font = next((f for f in CJK_FONTS if f.exists()), None)
    if font is None:
        pytest.skip("no CJK font on this machine (Debian: fonts-noto-cjk) to draw the poster")
    text = picture_text(poster_saying("兼职日结 加微信", "abc12345", font=font))
    assert "加微信" in text
    assert Detector().check(text).verdict == SPAM


def test_a_long_poster_is_read_to_its_bottom() -> None:
    """A long poster (长图) puts its contact at the bottom: it is read in parts no longer than
    about twice their width (time per picture stays bounded, bench/RESULTS.md), top to
    bottom. Past OCR_PARTS parts, the parts read are spread out, the bottom always among
    them."""
    from qunzhu.moderation import images

    image = Image.new("RGB", (800, 6000), (250, 240, 220))
    draw = ImageDraw.Draw(image)
    face = ImageFont.load_default(56)
    draw.text((60, 200), "SALE 50%", fill=(160, 0, 0), font=face)
    draw.text((60, 5700), "VX: abc12345", fill=(160, 0, 0), font=face)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    text = picture_text(buf.getvalue())
    assert "SALE" in text and "abc12345" in text
    assert text.index("SALE") < text.index("abc12345")
    strip = images._parts(Image.new("RGB", (120, 5000)))
    assert len(strip) == images.OCR_PARTS and all(p.size[1] <= 240 for p in strip)


def test_what_is_not_a_picture_reads_as_nothing() -> None:
    poster = poster_saying("VX: abc12345")
    tiny = io.BytesIO()
    Image.new("RGB", (60, 60)).save(tiny, "PNG")
    for data in (b"", b"not a picture", poster[:3000], tiny.getvalue()):
        assert picture_text(data) == ""


def test_poster_sized_reads_only_the_header() -> None:
    from qunzhu.moderation.images import poster_sized

    def png(width: int, height: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (width, height)).save(buf, "PNG")
        return buf.getvalue()

    assert poster_sized(poster_saying("VX: abc12345", size=(750, 1334)))
    assert poster_sized(png(640, 300)) and not poster_sized(png(512, 512))
    assert not poster_sized(png(2000, 60))  # a strip: nothing a poster could say fits
    assert not poster_sized(png(1080, 1920)[:20])  # cut before its size
    assert not poster_sized(b"") and not poster_sized(b"GIF89a not really")


def _event(n: int, *images: bytes) -> LiveEvent:
    at = datetime(2026, 12, 7, 8, tzinfo=UTC)
    record = Message(str(n), Person("u1", "小美"), at, MessageKind.IMAGE, "")
    group = Group(Platform.TELEGRAM, "-1001", "跑团")
    return LiveEvent("tg", group, record, images=images)


def test_the_reader_hands_back_what_it_read_and_survives_a_bad_picture() -> None:
    got: list[LiveEvent] = []

    def read(data: bytes) -> str:
        if data == b"bad":
            raise RuntimeError("the model failed on this one")
        return data.decode()

    reader = PictureReader(got.append, read)
    reader.submit(_event(1, b"bad"))
    reader.submit(_event(2, b"", b"line one", b"line two"))
    reader.submit(_event(3, b""))  # nothing written: nothing handed back
    reader.wait()
    reader.close()
    reader.submit(_event(4, b"after"))  # an engine stopping still judges its inbox: ignored
    (found,) = got
    assert isinstance(found.record, PictureText)
    assert (found.record.platform_id, found.record.text) == ("2", "line one\nline two")
    assert found.record.member == Person("u1", "小美") and found.role == "member"


def test_the_reader_lets_pictures_go_beyond_its_backlog(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    got: list[LiveEvent] = []

    def slow(data: bytes) -> str:
        release.wait(5)
        return "text"

    reader = PictureReader(got.append, slow, backlog=2)
    with caplog.at_level(logging.WARNING, logger="qunzhu.engine.reader"):
        for n in range(5):
            reader.submit(_event(n, b"x%d" % n))
    assert reader.unread == {"tg": 3}  # per connector, for the console
    told = [r.getMessage() for r in caplog.records]
    assert told == ["pictures not read so far: 1 (2 were waiting)"]
    release.set()
    reader.wait()
    reader.close()
    assert sorted(e.record.platform_id for e in got) == ["0", "1"]


def test_the_same_picture_is_read_once_and_a_failed_one_counts_as_unread() -> None:
    """An ad poster dropped into many groups, a sticker the community keeps sending: the
    same bytes are read once while they are among the pictures remembered or waiting. A
    picture the child failed on is not remembered: the copies waiting with it go unread, a
    copy that comes later is tried again."""
    from qunzhu.engine import reader as reader_module

    got: list[LiveEvent] = []
    asked: list[bytes] = []
    release = threading.Event()

    def read(data: bytes) -> str:
        release.wait(5)
        asked.append(data)
        if data == b"crash":
            raise PictureUnread
        return data.decode()

    reader = PictureReader(got.append, read)
    for n in range(5):  # all waiting before the first is read
        reader.submit(_event(n, b"poster", b"meme" if n % 2 else b"crash"))
    release.set()
    reader.wait()
    assert asked == [b"poster", b"crash", b"meme"]
    assert reader.unread == {"tg": 3}  # the crash, and its two copies waiting with it
    assert [e.record.text for e in got] == ["poster", "poster\nmeme"] * 2 + ["poster"]
    reader.submit(_event(5, b"crash", b"crash"))
    reader.wait()
    assert asked[3:] == [b"crash"] and reader.unread == {"tg": 5}
    reader_module.TEXTS_KEPT, kept = 2, reader_module.TEXTS_KEPT
    try:  # the oldest goes first once more are remembered
        for n, data in enumerate((b"a", b"b", b"poster", b"c")):
            reader.submit(_event(10 + n, data))
            reader.wait()
    finally:
        reader_module.TEXTS_KEPT = kept
    reader.close()
    assert len(reader.texts) == 2 and not reader._to_read
    assert asked[-4:] == [b"a", b"b", b"poster", b"c"]  # the poster had been let go


def test_several_readers_read_at_once_and_a_copy_waits_for_its_first() -> None:
    """With two readers two pictures are read at once; a copy taken up by the other thread
    while its first is being read waits for the text instead of going unread, and the copies
    of one whose read failed go unread."""
    import time

    started: list[bytes] = []
    both = threading.Barrier(2, timeout=5)
    release = threading.Event()
    got: list[LiveEvent] = []

    def read(data: bytes) -> str:
        started.append(data)
        if data in (b"x", b"y"):
            both.wait()  # each waits for the other: passes only if both are read at once
        release.wait(5)
        if data == b"broken":
            raise PictureUnread
        return data.decode()

    reader = PictureReader(got.append, read, readers=2)
    reader.submit(_event(1, b"x"))
    reader.submit(_event(2, b"y"))
    release.set()
    reader.wait()
    assert sorted(started) == [b"x", b"y"]

    release.clear()
    reader.submit(_event(3, b"one"))  # read on one thread...
    reader.submit(_event(4, b"one"))  # ... while the other takes up the copy, which waits
    time.sleep(0.2)
    release.set()
    reader.wait()
    assert started.count(b"one") == 1 and reader.unread == {}
    assert [e.record.text for e in got[2:]] == ["one", "one"]

    release.clear()
    for n in (5, 6):
        reader.submit(_event(n, b"broken"))
    time.sleep(0.2)
    release.set()
    reader.wait()
    reader.close()
    assert started.count(b"broken") == 1 and reader.unread == {"tg": 2}


def test_a_picture_read_before_is_not_let_go_with_a_full_backlog() -> None:
    """Past the backlog only pictures still to read are let go: the hundredth copy of a poster
    read a moment ago costs nothing to handle, so it is handled."""
    release = threading.Event()
    got: list[LiveEvent] = []

    def read(data: bytes) -> str:
        if data.startswith(b"new"):
            release.wait(5)
        return data.decode()

    reader = PictureReader(got.append, read, backlog=1)
    reader.submit(_event(1, b"known"))
    reader.wait()
    reader.submit(_event(2, b"new one"))  # being read, and the backlog is full
    reader.submit(_event(3, b"new two"))  # let go
    reader.submit(_event(4, b"known"))  # read before: handled
    release.set()
    reader.wait()
    reader.close()
    assert reader.unread == {"tg": 1}
    assert [e.record.platform_id for e in got] == ["1", "2", "4"]


def test_the_command_line_judges_a_picture_with_the_message(tmp_path: Path) -> None:
    import orjson
    from typer.testing import CliRunner

    from qunzhu.cli import app

    poster = tmp_path / "poster.jpg"
    poster.write_bytes(poster_saying("VX: abc12345", "Tel 13812345678"))
    runner = CliRunner()
    done = runner.invoke(app, ["moderation", "check", "看看", "--picture", str(poster), "--json"])
    assert done.exit_code == 0, done.output
    shown = orjson.loads(done.stdout)
    assert "abc12345" in shown["picture_text"] and shown["verdict"] != "ham"
    (words,) = [c for c in shown["checks"] if c["name"] == "contacts_and_words"]
    assert {c["kind"] for c in words["details"]["contacts"]} == {"wechat", "phone"}

    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"hello")
    for path in (junk, tmp_path / "missing.jpg"):
        done = runner.invoke(app, ["moderation", "check", "看看", "--picture", str(path)])
        assert done.exit_code == 1 and "Traceback" not in done.output
        assert str(path) in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_pictures_are_read_in_a_child_process_that_goes_when_idle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The engine's reader runs the models in a child process: it reads, it goes after its
    idle time (the memory back), the next picture starts another; a child that fails or hangs
    on a picture costs that picture's text only."""
    import time

    from qunzhu.engine.reader import ReadingProcess

    poster = poster_saying("VX: abc12345")
    child = ReadingProcess(idle_s=0.5)
    try:
        assert "abc12345" in child(poster)
        assert child(b"not a picture") == "" and child.running
        time.sleep(1.5)
        assert not child.running  # idle: gone
        assert "abc12345" in child(poster)  # started again
        child.timeout_s = 0.01  # a picture it cannot finish in time: the child is stopped
        with (
            caplog.at_level(logging.WARNING, logger="qunzhu.engine.reader"),
            pytest.raises(PictureUnread),
        ):
            child(poster)
        assert "the next picture starts a new one" in caplog.text
        child.timeout_s = 60
        assert "abc12345" in child(poster)
    finally:
        child.close()
    assert not child.running


def test_the_child_speaks_in_lengths_and_stops_at_the_end_of_its_input() -> None:
    import struct

    from qunzhu.moderation.images import serve_picture_text

    def framed(*parts: bytes) -> bytes:
        return b"".join(struct.pack(">I", len(p)) + p for p in parts)

    texts = io.BytesIO()
    cut_off = framed(b"not a picture", b"") + struct.pack(">I", 99) + b"short"
    serve_picture_text(io.BytesIO(cut_off), texts)
    assert texts.getvalue() == framed(b"", b"")  # two answers, nothing for the cut-off one


def test_a_reader_that_cannot_load_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Installed with pip, the OCR package brings opencv-python, whose cv2 needs a display's
    libGL: the command line says what to install in one line, and the child process answers
    "" and says it once, instead of dying at every picture."""
    import struct
    import sys

    from typer.testing import CliRunner

    from qunzhu.cli import app
    from qunzhu.moderation import images

    monkeypatch.setattr(images, "_reader", None)
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # importing it fails
    poster = tmp_path / "poster.jpg"
    poster.write_bytes(poster_saying("VX: abc12345"))
    done = CliRunner().invoke(app, ["moderation", "check", "看看", "--picture", str(poster)])
    assert done.exit_code == 1 and "opencv-python-headless" in done.output
    assert "Traceback" not in done.output

    framed = b"".join(struct.pack(">I", len(p)) + p for p in [poster.read_bytes()] * 2)
    texts = io.BytesIO()
    with caplog.at_level(logging.ERROR, logger="qunzhu.moderation.images"):
        images.serve_picture_text(io.BytesIO(framed), texts)
    assert texts.getvalue() == struct.pack(">I", 0) * 2
    assert [r.levelname for r in caplog.records] == ["ERROR"]
