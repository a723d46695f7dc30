"""qunzhu.toml: what a good file becomes, and a clear line for each kind of mistake."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from qunzhu import config, service
from qunzhu.config import ConfigError
from qunzhu.engine.policies import (
    AdmissionPolicy,
    AutoReplyPolicy,
    ModerationPolicy,
    NicknamePolicy,
    WelcomePolicy,
)
from qunzhu.moderation.enforcement import Mode

GOOD = """
[connectors.tg]
type = "telegram"
token_env = "TEST_TG_TOKEN"

[connectors.qq]
type = "onebot"
mode = "reverse"
port = 6700
access_token_env = "TEST_QQ_TOKEN"

[[communities]]
name = "跑团"
[communities.policies.moderation]
mode = "enforce"
keywords = { "加微信" = 0.6, "代开发票" = { weight = 1.0, action = "ban" } }
[communities.policies.welcome]
template = "欢迎 %NICKNAME%"
rules = "不发广告"

[[groups]]
name = "跑团1群"
community = "跑团"
connector = "tg"
id = -1001234
[groups.policies.welcome]
rules = "一群的群规"
[groups.policies.auto_reply]
answers = [{ keywords = ["几点"], text = "七点" }]

[[groups]]
name = "跑团QQ群"
community = "跑团"
connector = "qq"
id = "55667788"
admin_chat = "11223344"
[groups.policies.moderation]
enabled = false
[groups.policies.nickname]
pattern = "[^-]+-[^-]+"
[groups.policies.admission]
answers = ["跑步"]
"""


def parse(text: str) -> config.Config:
    return config.parse(tomllib.loads(text))


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return str(caught.value).splitlines()


def test_a_good_file_becomes_each_groups_policies() -> None:
    cfg = parse(GOOD)
    first, _ = cfg.groups
    assert first.id == "-1001234"  # a number in the file is still an id
    assert first.policies.welcome is not None
    # the group's own key wins, the community's others stay
    assert first.policies.welcome.rules == "一群的群规"
    assert first.policies.welcome.template == "欢迎 %NICKNAME%"
    setups = service.setups(cfg)
    tg = setups.of("tg", "-1001234")
    kinds = [type(p) for p in tg.policies]
    assert kinds == [ModerationPolicy, WelcomePolicy, AutoReplyPolicy]
    moderation = tg.policies[0]
    assert isinstance(moderation, ModerationPolicy) and moderation.ladder.mode is Mode.ENFORCE
    assert moderation.detector.policy.keywords["代开发票"] == (1.0, "ban")
    qq = setups.of("qq", "55667788")
    assert [type(p) for p in qq.policies] == [WelcomePolicy, AdmissionPolicy, NicknamePolicy]
    assert qq.admin_chat == "11223344"
    assert setups.of("tg", "-999").policies == ()  # not configured: stored, not policed
    admission = qq.policies[1]
    assert isinstance(admission, AdmissionPolicy) and admission.detector is None  # moderation off


def test_admission_asks_moderation_about_the_asker() -> None:
    qq = service.setups(parse(GOOD.replace("enabled = false", "enabled = true"))).of(
        "qq", "55667788"
    )
    moderation, admission = (
        next(p for p in qq.policies if isinstance(p, kind))
        for kind in (ModerationPolicy, AdmissionPolicy)
    )
    assert isinstance(admission, AdmissionPolicy) and isinstance(moderation, ModerationPolicy)
    assert admission.detector is moderation.detector  # one bank: what people confirmed


def test_moderation_watches_by_default() -> None:
    cfg = parse('[connectors.c]\ntype = "console"\n[[groups]]\nname="g"\nconnector="c"\nid="x"\n')
    (policy,) = service.setups(cfg).of("c", "x").policies
    assert isinstance(policy, ModerationPolicy) and policy.ladder.mode is Mode.SHADOW


def test_secrets_come_from_the_environment() -> None:
    cfg = parse(GOOD)
    found = cfg.secrets({"TEST_TG_TOKEN": "123:abc", "TEST_QQ_TOKEN": "t"})
    assert found == {"tg": {"token": "123:abc"}, "qq": {"access_token": "t"}}
    with pytest.raises(ConfigError) as caught:
        cfg.secrets({"TEST_TG_TOKEN": "123:abc"})
    assert str(caught.value) == "connectors.qq: the environment variable TEST_QQ_TOKEN is not set"


def test_cas_is_asked_only_where_a_telegram_connector_turns_it_on() -> None:
    keys = {"tg": {"token": "123:abc"}, "qq": {"access_token": "t"}}
    plain = service.connectors(parse(GOOD), keys)["tg"]
    asking = service.connectors(
        parse(GOOD.replace('TEST_TG_TOKEN"', 'TEST_TG_TOKEN"\ncas = true')), keys
    )["tg"]
    assert plain._cas is None  # type: ignore[attr-defined]
    assert asking._cas is not None  # type: ignore[attr-defined]
    assert str(asking._cas._client.base_url) == "https://api.cas.chat"  # type: ignore[attr-defined]


def test_a_wecom_connector_follows_its_archive_and_speaks_through_its_app() -> None:
    from qunzhu.connectors.wecom import WeComConnector
    from qunzhu.model.live import ActionKind

    text = (
        '[connectors.wx]\ntype = "wecom"\narchive = "archive/messages.jsonl"\n'
        'corp_id = "ww1234"\nagent_id = 1000002\nsecret_env = "TEST_WECOM_SECRET"\n'
    )
    cfg = parse(text)
    keys = cfg.secrets({"TEST_WECOM_SECRET": "s"})
    assert keys == {"wx": {"secret": "s"}}
    made = service.connectors(cfg, keys)["wx"]
    assert isinstance(made, WeComConnector)
    assert made.capabilities == {ActionKind.NOTIFY_OWNER}
    assert made.archive == Path("archive/messages.jsonl")
    reading_only = '[connectors.wx]\ntype = "wecom"\narchive = "a.jsonl"\n'
    assert service.connectors(parse(reading_only), {"wx": {}})["wx"].capabilities == set()
    (line,) = errors(reading_only + 'corp_id = "ww1234"\n')
    assert "connectors.wx: corp_id, agent_id and secret_env go together" in line
    (line,) = errors(reading_only + 'callback_token_env = "T"\ncallback_aes_key_env = "K"\n')
    assert "connectors.wx: callbacks need callback_token_env" in line
    called = text + 'callback_token_env = "TEST_CB_TOKEN"\ncallback_aes_key_env = "TEST_CB_KEY"\n'
    env = {"TEST_WECOM_SECRET": "s", "TEST_CB_TOKEN": "t", "TEST_CB_KEY": "k" * 43}
    assert parse(called).secrets(env)["wx"] == {
        "secret": "s",
        "callback_token": "t",
        "callback_aes_key": "k" * 43,
    }


def test_every_kind_of_connector_has_its_platform() -> None:
    # a kind without one crashed `qunzhu run` as it placed the configured groups
    assert set(service.PLATFORMS) == set(config._TYPES)


def test_a_secret_written_in_the_file_is_refused() -> None:
    lines = errors('[connectors.tg]\ntype = "telegram"\ntoken = "123:abc"\n')
    assert lines == [
        "qunzhu.toml: connectors.tg.token: secrets do not belong in the file; "
        "name an environment variable with connectors.tg.token_env"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[connectors.x]\ntype = "slack"\n', "connectors.x: type must be one of"),
        ('[connectors.x]\nmode = "forward"\n', "connectors.x: type is missing"),
        ('[connectors.x]\ntype = "onebot"\n', "connectors.x: forward mode needs the url"),
        ('[connectors.x]\ntype = "telegram"\nmode = "webhook"\n', "needs webhook_url"),
        ('[connectors.x]\ntype = "onebot"\nurl = "ws://a"\nport = 70000\n', "x.port: out of"),
        ('[[groups]]\nname = "g"\nid = "1"\n', "groups[0].connector: required"),
        ('[[groups]]\nname = "g"\nid = "1"\nconnector = "nope"\n', "no connector named 'nope'"),
        ("[store]\nurl = 5\n", "store.url: must be text"),
        ("[stroe]\n", "stroe: unknown setting"),
    ],
)
def test_each_mistake_is_one_line_saying_where(text: str, expected: str) -> None:
    lines = errors(text)
    assert len(lines) == 1 and lines[0].startswith("qunzhu.toml: ")
    assert expected in lines[0]


def test_policy_mistakes_name_the_group_and_key() -> None:
    base = '[connectors.c]\ntype = "console"\n[[groups]]\nname = "g"\nconnector = "c"\nid = "x"\n'
    long_rules = base + f'[groups.policies.welcome]\nrules = "{"长" * 101}"\n'
    assert errors(long_rules) == [
        "qunzhu.toml: groups[0].policies.welcome.rules: at most 100 characters"
    ]
    bad_regex = base + '[groups.policies.nickname]\npattern = "(["\n'
    (line,) = errors(bad_regex)
    assert "groups[0].policies.nickname.pattern: not a regular expression" in line
    slow_regex = base + '[groups.policies.nickname]\npattern = "(\\\\w|\\\\w\\\\w)+"\n'
    (line,) = errors(slow_regex)
    assert "groups[0].policies.nickname.pattern: too slow" in line
    bad_mode = base + '[groups.policies.moderation]\nmode = "strict"\n'
    (line,) = errors(bad_mode)
    assert "groups[0].policies.moderation.mode: must be one of" in line
    bad_weight = base + '[groups.policies.moderation]\nkeywords = { "x" = 2 }\n'
    assert any("keywords.x" in line for line in errors(bad_weight))


def test_every_mistake_at_once() -> None:
    text = (
        '[connectors.c]\ntype = "console"\n'
        '[[groups]]\nname = "a"\nconnector = "c"\nid = "1"\ncommunity = "nobody"\n'
        '[[groups]]\nname = "a"\nconnector = "c"\nid = "1"\n'
    )
    lines = errors(text)
    assert len(lines) == 3
    assert "no community named 'nobody'" in lines[0]
    assert "listed twice" in lines[1] and "another group is named 'a'" in lines[2]


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        config.load(tmp_path / "qunzhu.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[connectors\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(broken)


def test_the_starter_file_is_valid_in_both_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    for lang in ("en", "zh"):
        monkeypatch.setenv("QUNZHU_LANG", lang)
        cfg = parse(config.starter())
        (group,) = cfg.groups
        assert group.connector == "console" and group.id == "console"
        assert len(service.setups(cfg).of("console", "console").policies) == 5


def test_messages_in_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    (line,) = errors('[[groups]]\nname = "g"\nid = "1"\n')
    assert line == "qunzhu.toml: groups[0].connector: 必填"


def test_thresholds_in_order() -> None:
    base = '[connectors.c]\ntype = "console"\n[[groups]]\nname = "g"\nconnector = "c"\nid = "x"\n'
    good = parse(base + "[groups.policies.moderation]\nreview_from = 0.4\nspam_from = 0.7\n")
    (policy,) = service.setups(good).of("c", "x").policies
    assert isinstance(policy, ModerationPolicy)
    assert (policy.detector.policy.review_from, policy.detector.policy.spam_from) == (0.4, 0.7)
    (line,) = errors(base + "[groups.policies.moderation]\nreview_from = 0.9\nspam_from = 0.5\n")
    assert "groups[0].policies.moderation: review_from must be below spam_from" in line


def test_a_connectors_community_must_exist_and_its_policies_be_valid() -> None:
    base = '[connectors.tg]\ntype = "telegram"\ncommunity = "跑团"\n'
    (line,) = errors(base)
    assert "connectors.tg.community: no community named '跑团'" in line
    bad = (
        base + '[[communities]]\nname = "跑团"\n[communities.policies.moderation]\nmode = "loud"\n'
    )
    (line,) = errors(bad)
    assert "communities[0].policies: moderation.mode: must be one of" in line
    good = parse(bad.replace('"loud"', '"enforce"'))
    assert good.community_policies("跑团").moderation.mode == "enforce"
    assert service.describe(good) == ["other groups of tg [跑团]: moderation (enforce)"]
