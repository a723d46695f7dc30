"""A group's own rules: keyword actions, what newcomers may not post, QR codes in pictures,
and a community's model on top of the shared one."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
import zxingcpp
from PIL import Image
from typer.testing import CliRunner

from qunzhu.cli import app
from qunzhu.moderation.behaviour import Context
from qunzhu.moderation.enforcement import Ladder, Mode, Step
from qunzhu.moderation.engine import Detector, Policy
from qunzhu.moderation.evaluate import evaluate, spam_only
from qunzhu.moderation.images import qr_payloads
from qunzhu.moderation.model import ContentModel
from qunzhu.moderation.verdicts import HAM, REVIEW, SPAM

T0 = 1_790_000_000.0


def picture_with_qr(payload: str, fmt: str = "JPEG") -> bytes:
    """A photo-sized picture with a QR code somewhere in it, saved as a chat app would."""
    code = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode).to_image(scale=5)
    canvas = Image.new("RGB", (1200, 900), (235, 230, 220))
    canvas.paste(
        Image.fromarray(code.__array__() if hasattr(code, "__array__") else code), (700, 400)
    )
    buf = io.BytesIO()
    canvas.save(buf, fmt)
    return buf.getvalue()


def write_tsv(path: Path, texts: list[str], labels: list[int]) -> Path:
    path.write_text("".join(f"{y}\t{t}\n" for t, y in zip(texts, labels, strict=True)), "utf-8")
    return path


def plain_picture() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def test_a_keyword_can_name_its_own_action() -> None:
    policy = Policy(keywords={"代购": 0.9, "六合彩": {"weight": 1.0, "action": "ban"}})
    d = Detector(policy)
    ladder = Ladder(Mode.ENFORCE)
    first = d.check("代购包包，私聊")
    assert first.verdict == SPAM and first.action is None
    assert ladder.act(first, T0).step is Step.DELETE_WARN  # the ladder's first rung
    lottery = d.check("六合彩内部资料")
    assert lottery.action == "ban"
    assert ladder.act(lottery, T0).step is Step.BAN  # at once, no climbing


def test_words_match_with_separators_inside_and_around() -> None:
    """A plain word matches however it is spaced out; a listed word that has a space of its
    own still matches as written."""
    policy = Policy(keywords={"代购": 0.9, "free money": 0.9})
    d = Detector(policy)
    for text in ["代 . 购包包", "正品代购", "get free money now"]:
        assert d.check(text).verdict == SPAM, text
    assert d.check("freemoney").verdict == HAM  # the space is part of that word
    assert Detector(Policy(keywords={"代购": 0.9})).check("代 购").verdict == SPAM


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"x": "heavy"}, "expected a weight"),
        ({"x": 2.0}, "outside 0..1"),
        ({"x": {"weight": 0.5, "action": "shoot"}}, "unknown action"),
    ],
)
def test_bad_keyword_entries_say_which(keywords: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        Policy(keywords=keywords)
    assert "'x'" in str(info.value)


def test_newcomers_on_probation_may_not_post_links_cards_or_forwards() -> None:
    d = Detector(Policy(keywords={}, probation_h=24))
    joined = T0 - 3600
    link = d.check("看看这个 https://example.org/a", Context("g", "n", T0, joined_at=joined))
    lock = next(c for c in link.checks if c.name == "type_lock")
    assert link.verdict == SPAM and lock.details["locked"] == ["link"]
    card = d.check("", Context("g", "n", T0, joined_at=joined, kinds=frozenset({"card"})))
    assert card.verdict == SPAM
    later = Context("g", "n", T0 + 86400, joined_at=joined, kinds=frozenset({"forward"}))
    assert d.check("转发一篇文章", later).verdict == HAM  # probation is over
    unknown = Context("g", "n", T0, kinds=frozenset({"forward"}))  # join time not known
    assert d.check("转发一篇文章", unknown).verdict == HAM
    with pytest.raises(ValueError, match="cannot lock"):
        Policy(locked=["links"])
    sticker = Context("g", "n", T0, joined_at=joined, kinds=frozenset({"sticker"}))
    assert d.check("", sticker).verdict == HAM  # stickers are free unless a group locks them
    assert Detector(Policy(locked=["sticker"], probation_h=24)).check("", sticker).verdict == SPAM
    # an inline bot's buttons and a reply quoting another chat: locked by default, as forwards
    for kind in ("buttons", "external_reply"):
        carried = Context("g", "n", T0, joined_at=joined, kinds=frozenset({kind}))
        held = d.check("看看", carried)
        assert held.verdict == SPAM, kind
        assert next(c for c in held.checks if c.name == "type_lock").details["locked"] == [kind]
        assert Detector(Policy(keywords={}, locked=["link"])).check("看看", carried).verdict == HAM


def test_qr_codes_in_pictures_are_read() -> None:
    payload = "https://weixin.qq.com/g/AbCdEf123456"
    assert qr_payloads(picture_with_qr(payload)) == [payload]
    assert qr_payloads(picture_with_qr(payload, "PNG")) == [payload]
    assert qr_payloads(plain_picture()) == []
    assert qr_payloads(b"\x89PNG\r\n\x1a\n broken") == []  # not a picture: no codes, no error
    assert qr_payloads(b"") == []


def test_a_qr_code_leading_somewhere_is_an_ad() -> None:
    d = Detector()
    old = dict(joined_at=T0 - 30 * 86400)  # a long-time member, not on probation
    group_card = Context(
        "g", "m", T0, images=(picture_with_qr("https://weixin.qq.com/g/Ab12"),), **old
    )
    decision = d.check("", group_card)
    qr = next(c for c in decision.checks if c.name == "qr_code")
    assert decision.verdict == SPAM and qr.details["contacts"]
    words = Context("g", "m", T0, images=(picture_with_qr("生日快乐"),), **old)
    assert d.check("", words).verdict == REVIEW  # a code, but to nowhere: a look
    photo = Context("g", "m", T0, images=(plain_picture(),), **old)
    assert d.check("", photo).verdict == HAM
    newcomer = Context("g", "n", T0, joined_at=T0 - 60, images=(picture_with_qr("生日快乐"),))
    lock = next(c for c in d.check("", newcomer).checks if c.name == "type_lock")
    assert lock.details["locked"] == ["qr"]


def _shop_community() -> tuple[list[str], list[int], list[str], list[int]]:
    """Shared data: general ads and chat. A wine shop's community: its own offers are normal
    talk there, and its own spam is fake 茅台 resellers."""
    general_ads = [f"兼职刷单日赚{i}00元，加微信 ad{i:04d}" for i in range(80)]
    general_chat = [f"今天第{i}次跑步，感觉不错" for i in range(80)]
    offers = [f"本店{i}号新到红酒，会员价{i}9元，欢迎来店品尝" for i in range(40)]
    fakes = [f"低价出售飞天茅台{i}箱，保真，私聊 {i}号" for i in range(40)]
    return (
        general_ads + general_chat,
        [1] * 80 + [0] * 80,
        offers + fakes,
        [0] * 40 + [1] * 40,
    )


def test_a_community_model_builds_on_the_shared_one() -> None:
    shared_texts, shared_labels, own_texts, own_labels = _shop_community()
    base = ContentModel.train(shared_texts, shared_labels)
    own = ContentModel.train(own_texts, own_labels, base=base)
    assert own.base is base
    both = Detector(Policy(keywords={}), model=own)
    # what the community taught
    assert both.check("本店99号新到红酒，会员价199元，欢迎来店品尝").verdict != SPAM
    # what only the shared model knew, still caught
    assert both.check("兼职刷单日赚900元，加微信 ad9999").verdict == SPAM
    alone = Detector(Policy(keywords={}), model=ContentModel.train(own_texts, own_labels))
    assert alone.check("兼职刷单日赚900元，加微信 ad9999").verdict != SPAM
    scores = evaluate(both, own_texts, own_labels, spam_only)
    assert scores.f1 > 0.9


def test_cli_trains_a_community_model_next_to_the_shared_one(tmp_path: Path) -> None:
    shared_texts, shared_labels, own_texts, own_labels = _shop_community()
    shared = write_tsv(tmp_path / "shared.tsv", shared_texts, shared_labels)
    own = write_tsv(tmp_path / "own.tsv", own_texts, own_labels)
    model = tmp_path / "m.model"
    runner = CliRunner()
    done = runner.invoke(app, ["moderation", "train", "--data", str(shared), "--model", str(model)])
    assert done.exit_code == 0, done.output
    done = runner.invoke(
        app,
        ["moderation", "train", "--data", str(own), "--model", str(model), "--community", "酒庄 A"],
    )
    assert done.exit_code == 0, done.output
    assert (tmp_path / "m.酒庄_A.model").exists()
    ad = "兼职刷单日赚900元，加微信 ad9999"
    args = ["moderation", "check", ad, "--model", str(model), "--community", "酒庄 A", "--json"]
    done = runner.invoke(app, args)
    assert orjson.loads(done.stdout)["verdict"] == SPAM


def test_a_group_moves_its_thresholds() -> None:
    from qunzhu.moderation.engine import Detector
    from qunzhu.moderation.engine import Policy as Rules

    link = "看看这个 https://example.com/x"  # a contact alone scores 0.5: review by default
    assert Detector().check(link).verdict == "review"
    strict = Detector(Rules(review_from=0.3, spam_from=0.45))
    assert strict.check(link).verdict == "spam"
    lenient = Detector(Rules(review_from=0.6, spam_from=0.9))
    assert lenient.check(link).verdict == "ham"
    with pytest.raises(ValueError, match="review_from must be below spam_from"):
        Rules(review_from=0.8, spam_from=0.5)
