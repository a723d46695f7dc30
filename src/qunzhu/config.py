"""`qunzhu.toml`: the communities, groups, connectors and policies of one qunzhu.

One file an operator can read top to bottom. Secrets never live in it: a connector names the
environment variable that holds its token (`token_env`), so the file can be shared, diffed and
committed. A community's `[communities.policies]` are the defaults of its groups; a group's own
`[groups.policies.*]` tables change only the keys they name. A policy runs when its table is
there (`enabled = false` turns one off), except moderation, which runs in every configured
group in `shadow` mode (it decides and records, and does nothing) unless told otherwise:
watching before acting is how an operator learns to trust it.

Mistakes are reported one per line with where they are (`groups[2].policies.welcome.rules`),
all at once, in the interface language.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qunzhu import i18n, patterns
from qunzhu.i18n import tr

DEFAULT_PATH = Path("qunzhu.toml")
RULES_MAX = 100  # PLAYBOOK: rules a newcomer reads at a glance


class ConfigError(Exception):
    """Everything wrong with a configuration file, one mistake per line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- connectors ---------------------------------------------------------------------------


class TelegramSettings(_Strict):
    type: Literal["telegram"]
    token_env: str = "QUNZHU_TELEGRAM_TOKEN"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None  # the public https address Telegram posts to
    webhook_secret_env: str | None = None
    listen: str = "127.0.0.1:8443"  # where the webhook server binds (behind your proxy)
    api_base: str = "https://api.telegram.org"
    # ask CAS (cas.chat), a shared list of spam accounts, about the members: off, since it
    # tells cas.chat who is in the groups (connectors/cas.py)
    cas: bool = False
    cas_api: str = "https://api.cas.chat"
    community: str | None = None  # groups no [[groups]] entry names: this community's policies

    @model_validator(mode="after")
    def _webhook(self) -> TelegramSettings:
        if self.mode == "webhook" and not (self.webhook_url and self.webhook_secret_env):
            raise ValueError(tr("webhook mode needs webhook_url and webhook_secret_env"))
        return self


class OneBotSettings(_Strict):
    type: Literal["onebot"]
    mode: Literal["forward", "reverse"] = "forward"
    url: str | None = None  # forward: the implementation's WebSocket server
    host: str = "127.0.0.1"  # reverse: where qunzhu listens for the implementation
    port: int = Field(8080, ge=0, le=65535)
    access_token_env: str | None = None
    community: str | None = None  # groups no [[groups]] entry names: this community's policies

    @model_validator(mode="after")
    def _url(self) -> OneBotSettings:
        if self.mode == "forward" and not self.url:
            raise ValueError(tr("forward mode needs the url of the OneBot WebSocket server"))
        return self


class ConsoleSettings(_Strict):
    type: Literal["console"]
    group: str = "console"  # the pretend group's id, to configure it under [[groups]]


class WeComSettings(_Strict):
    type: Literal["wecom"]
    archive: str  # the file the message-archive puller appends decrypted messages to (JSONL)
    # the self-built app that tells groups' owners (customer-contact permission); without
    # all three the connector only reads, and every action is a task in the console
    corp_id: str | None = None
    agent_id: int | None = Field(None, ge=1)
    secret_env: str | None = None
    # the app's event callback (接收事件服务器): who joins and leaves customer groups
    callback_token_env: str | None = None
    callback_aes_key_env: str | None = None
    listen: str = "127.0.0.1:8091"  # where the callback server binds (behind your proxy)
    api_base: str = "https://qyapi.weixin.qq.com"
    community: str | None = None  # groups no [[groups]] entry names: this community's policies

    @model_validator(mode="after")
    def _app(self) -> WeComSettings:
        given = [self.corp_id, self.agent_id, self.secret_env]
        if any(given) and not all(given):
            raise ValueError(tr("corp_id, agent_id and secret_env go together"))
        callback = [self.callback_token_env, self.callback_aes_key_env]
        if any(callback) and not (all(callback) and all(given)):
            raise ValueError(
                tr("callbacks need callback_token_env, callback_aes_key_env and the app")
            )
        return self


_TYPES = ("telegram", "onebot", "console", "wecom")
ConnectorSettings = Annotated[
    TelegramSettings | OneBotSettings | ConsoleSettings | WeComSettings,
    Field(discriminator="type"),
]


# -- policies -----------------------------------------------------------------------------


class Keyword(_Strict):
    weight: float = Field(1.0, ge=0.0, le=1.0)
    action: Literal["review", "delete_warn", "mute", "kick", "ban"] | None = None


class ModerationSettings(_Strict):
    enabled: bool = True
    mode: Literal["shadow", "training", "enforce"] = "shadow"
    model: Path | None = None  # made by `qunzhu moderation train`; none: words and contacts
    # learn from the console's answers: the community's own model, trained on top of `model`
    learn: bool = True
    # share bans with the community's other groups: a member banned here is kept out there,
    # and one banned there is kept out here (the community blocklist)
    blocklist: bool = True
    # trusted members whose 举报 / /report (a reply) sends a message to the admins; 0: off
    reports: int = Field(2, ge=0, le=20)
    # take down the platform's own "X joined" / "X left" messages (Telegram's service messages)
    delete_notices: bool = False
    # read the text in pictures from members it checks (on this machine), and judge it as text
    read_pictures: bool = True
    keywords: dict[str, Annotated[float, Field(ge=0.0, le=1.0)] | Keyword] | None = None
    # words of abuse (insults, obscenities), as keywords are written; None: the built-in
    # list, {}: none (a group that swears as friends do)
    abuse: dict[str, Annotated[float, Field(ge=0.0, le=1.0)] | Keyword] | None = None
    allow_domains: list[str] = []
    deny_domains: list[str] = []
    # kinds newcomers may not post (default: links, QR codes, cards, mini-programs, forwards,
    # buttons, replies quoting another chat; also image, sticker, file, video)
    locked: list[str] | None = None
    probation_h: float = Field(24.0, ge=0)
    warning: str = ""
    # ask the language model ([language_model]) before acting: about the messages it would
    # ask an admin about ("questions"), and also about removals its content model alone
    # decided ("veto"); "off": nothing leaves this machine
    second_opinion: Literal["off", "questions", "veto"] = "off"
    # where a score becomes "review" and "spam" in this group (empty: the defaults)
    review_from: float | None = Field(None, ge=0.0, le=1.0)
    spam_from: float | None = Field(None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _thresholds(self) -> ModerationSettings:
        if (
            self.review_from is not None
            and self.spam_from is not None
            and self.review_from >= self.spam_from
        ):
            raise ValueError(tr("review_from must be below spam_from"))
        return self


class WelcomeSettings(_Strict):
    enabled: bool = True
    template: str = ""  # %NICKNAME% becomes the newcomers' names
    rules: str = Field("", max_length=RULES_MAX)
    batch_s: float = Field(30.0, ge=0)
    delete_after_min: int = Field(0, ge=0, le=1440)  # take it down after; 0: keep it


class AdmissionSettings(_Strict):
    enabled: bool = True
    answers: list[str] = []  # a request containing one is approved
    reject_words: list[str] = []  # a request containing one is rejected
    approve_tags: list[str] = []  # an asker an operator tagged so is approved (`qunzhu tags`)
    reject_tags: list[str] = []  # ... or rejected


class CaptchaSettings(_Strict):
    enabled: bool = True
    timeout_s: int = Field(180, ge=30, le=3600)  # to answer, then removed (kicked)
    question: str = Field("", max_length=200)  # empty: a sum in Chinese numerals, per newcomer
    answers: list[str] = []  # with `question`: an answer containing one passes
    tries: int = Field(3, ge=1, le=10)  # wrong answers before removal

    @model_validator(mode="after")
    def _answerable(self) -> CaptchaSettings:
        if self.question.strip() and not any(a.strip() for a in self.answers):
            raise ValueError(tr("a question needs at least one answer"))
        if not self.question.strip() and self.answers:
            raise ValueError(tr("answers need a question"))
        return self


class RaidSettings(_Strict):
    enabled: bool = True
    joins: int = Field(20, ge=2, le=100)  # newcomers within window_s that start a lockdown
    window_s: int = Field(60, ge=5, le=3600)
    lock_min: int = Field(30, ge=1, le=1440)  # how long newcomers are removed on arrival
    mute_all: bool = False  # and the whole group muted meanwhile (enforce)
    # newcomers within window_s across the community's groups that start a lockdown in each
    # group one then joins (a raid spread thin over many groups); 0: off
    community_joins: int = Field(0, ge=0, le=10_000)


class NicknameSettings(_Strict):
    enabled: bool = True
    pattern: str = r"[^-\s]+-[^-\s]+-[^-\s]+"
    example: str = "城市-行业-姓名"
    grace_h: float = Field(24.0, ge=0)

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            patterns.compile_bounded(value)
        except patterns.SlowPattern as exc:
            raise ValueError(
                tr(
                    "too slow: it takes over {ms} ms on a {n}-character name that does not "
                    "fit (repetition inside repetition, such as (\\w|\\w\\w)+, backtracks)",
                    ms=round(patterns.MATCH_TIMEOUT_S * 1000),
                    n=exc.length,
                )
            ) from None
        except patterns.regex.error as exc:
            raise ValueError(tr("not a regular expression: {why}", why=exc)) from None
        return value


class Reply(_Strict):
    keywords: list[str] = Field(min_length=1)
    text: str = Field(min_length=1)


class AutoReplySettings(_Strict):
    enabled: bool = True
    cooldown_s: float = Field(300.0, ge=0)
    answers: list[Reply] = []


class PolicySettings(_Strict):
    moderation: ModerationSettings = ModerationSettings()
    welcome: WelcomeSettings | None = None
    admission: AdmissionSettings | None = None
    captcha: CaptchaSettings | None = None
    raid: RaidSettings | None = None
    nickname: NicknameSettings | None = None
    auto_reply: AutoReplySettings | None = None


# -- communities and groups ---------------------------------------------------------------


class CommunitySettings(_Strict):
    name: str = Field(min_length=1)
    policies: dict[str, dict[str, Any]] = {}  # raw: merged into each group's, then checked


class GroupSettings(_Strict):
    name: str = Field(min_length=1)
    connector: str
    id: str = Field(min_length=1)  # the platform's group id (Telegram -100…, QQ group number)
    community: str | None = None
    admin_chat: str | None = None  # where admins are told things; else they become tasks
    policies: PolicySettings = PolicySettings()

    @field_validator("id", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class LanguageModelSettings(_Strict):
    """An OpenAI-compatible chat API that moderation asks for a second opinion: a hosted one
    (https://api.deepseek.com/v1) or your own (Ollama: http://127.0.0.1:11434/v1), which keeps
    members' messages on your machines."""

    url: str = Field(min_length=1)
    model: str = Field(min_length=1)
    key_env: str | None = None  # the variable holding the API key (a local model needs none)
    timeout_s: float = Field(20.0, gt=0, le=120)
    daily: int = Field(1000, ge=0)  # calls a day at most, all groups together
    # more fields for the request body, as the service asks: Qwen3 on DashScope wants
    # {enable_thinking = false} for an answer that is not streamed
    extra: dict[str, Any] = {}

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(tr("the url must start with http:// or https://"))
        return value


class StoreSettings(_Strict):
    url: str | None = None  # default: $QUNZHU_DATABASE_URL, else ./qunzhu.db


class Config(_Strict):
    store: StoreSettings = StoreSettings()
    language_model: LanguageModelSettings | None = None
    connectors: dict[str, ConnectorSettings] = {}
    communities: list[CommunitySettings] = []
    groups: list[GroupSettings] = []

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = {c.name for c in self.communities}
        seen: set[tuple[str, str]] = set()
        titles: set[str] = set()
        problems = []
        for i, group in enumerate(self.groups):
            where = f"groups[{i}]"
            if group.connector not in self.connectors:
                problems.append(
                    tr("{where}: no connector named {name!r}", where=where, name=group.connector)
                )
            if group.community is not None and group.community not in names:
                problems.append(
                    tr("{where}: no community named {name!r}", where=where, name=group.community)
                )
            if (group.connector, group.id) in seen:
                problems.append(tr("{where}: group {id} is listed twice", where=where, id=group.id))
            if group.name in titles:
                problems.append(
                    tr("{where}: another group is named {name!r}", where=where, name=group.name)
                )
            if group.policies.moderation.second_opinion != "off" and self.language_model is None:
                problems.append(
                    tr(
                        "{where}.policies.moderation.second_opinion: no [language_model] to ask",
                        where=where,
                    )
                )
            seen.add((group.connector, group.id))
            titles.add(group.name)
        for name, settings in self.connectors.items():
            community = getattr(settings, "community", None)
            if community is None:
                continue
            if community not in names:
                problems.append(
                    tr(
                        "{where}: no community named {name!r}",
                        where=f"connectors.{name}.community",
                        name=community,
                    )
                )
                continue
            try:
                self.community_policies(community)
            except ValidationError as exc:
                at = [c.name for c in self.communities].index(community)
                problems.extend(_lines(exc, f"communities[{at}].policies"))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def community_policies(self, name: str) -> PolicySettings:
        """A community's own policies: what a group of it that sets none of its own runs (a
        connector's `community` gives them to the groups no [[groups]] entry names)."""
        raw = next((c.policies for c in self.communities if c.name == name), {})
        return PolicySettings.model_validate(raw)

    def secrets(self, environ: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
        """Each connector's secrets, read from the environment; a missing one is an error."""
        env = os.environ if environ is None else environ
        found: dict[str, dict[str, str]] = {}
        missing = []
        for name, settings in self.connectors.items():
            wanted = {
                key: getattr(settings, key) for key in _SECRET_ENVS if getattr(settings, key, None)
            }
            found[name] = {}
            for key, variable in wanted.items():
                if env.get(variable):
                    found[name][key.removesuffix("_env")] = env[variable]
                else:
                    missing.append(
                        tr(
                            "connectors.{name}: the environment variable {var} is not set",
                            name=name,
                            var=variable,
                        )
                    )
        variable = self.language_model.key_env if self.language_model else None
        if variable and not env.get(variable):  # read by `model_key`; checked with the rest
            missing.append(
                tr("language_model: the environment variable {var} is not set", var=variable)
            )
        if missing:
            raise ConfigError("\n".join(missing))
        return found

    def model_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The language model's API key from the environment (None: it needs none). A
        missing one is an error `secrets` reports with the connectors'."""
        env = os.environ if environ is None else environ
        variable = self.language_model.key_env if self.language_model else None
        return env.get(variable) if variable else None


# -- reading ------------------------------------------------------------------------------

_SECRET_ENVS = (  # settings naming the environment variable that holds a secret
    "token_env",
    "webhook_secret_env",
    "access_token_env",
    "secret_env",
    "callback_token_env",
    "callback_aes_key_env",
)
_SECRET_KEYS = ("token", "secret", "webhook_secret", "access_token", "password")


def load(path: Path) -> Config:
    """Read and check `path`; a ConfigError lists every mistake, one per line."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            tr("{path}: no such file (`qunzhu config init` writes one)", path=path)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(tr("{path}: cannot read it: {why}", path=path, why=exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(tr("{path}: not valid TOML: {why}", path=path, why=exc)) from None
    return parse(raw, str(path))


def parse(raw: dict[str, Any], where: str = "qunzhu.toml") -> Config:
    leaked = [
        f"connectors.{name}.{key}"
        for name, table in (raw.get("connectors") or {}).items()
        if isinstance(table, dict)
        for key in table
        if key in _SECRET_KEYS
    ]
    if leaked:
        raise ConfigError(
            "\n".join(
                tr(
                    "{where}: {key}: secrets do not belong in the file; name an environment "
                    "variable with {key}_env",
                    where=where,
                    key=key,
                )
                for key in leaked
            )
        )
    try:
        return Config.model_validate(_merged(raw))
    except ValidationError as exc:
        raise ConfigError("\n".join(_lines(exc, where))) from None


def _merged(raw: dict[str, Any]) -> dict[str, Any]:
    """Each group's policies on top of its community's, key by key within each policy."""
    communities = {
        c.get("name"): c.get("policies") or {}
        for c in raw.get("communities") or []
        if isinstance(c, dict)
    }
    groups = []
    for group in raw.get("groups") or []:
        if not isinstance(group, dict):
            groups.append(group)
            continue
        base = communities.get(group.get("community"), {})
        own = group.get("policies") or {}
        if not isinstance(base, dict) or not isinstance(own, dict):
            groups.append(group)
            continue
        policies: dict[str, Any] = {}
        for key in {*base, *own}:
            inherited, mine = base.get(key), own.get(key)
            if isinstance(inherited, dict) and isinstance(mine, dict):
                policies[key] = {**inherited, **mine}
            else:
                policies[key] = mine if key in own else inherited
        groups.append({**group, "policies": policies})
    return {**raw, "groups": groups} if "groups" in raw else raw


def _lines(exc: ValidationError, where: str) -> list[str]:
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        if loc[:1] == ("connectors",) and len(loc) >= 3 and loc[2] in _TYPES:
            loc = loc[:2] + loc[3:]  # the connector type pydantic tried: not a place in the file
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        lines.append(f"{where}: {path + ': ' if path else ''}{error_message(error)}")
    return lines


def error_message(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return tr("required")
    if kind == "extra_forbidden":
        return tr("unknown setting")
    if kind == "string_too_long":
        return tr("at most {n} characters", n=ctx.get("max_length"))
    if kind in ("string_too_short", "too_short"):
        return tr("must not be empty")
    if kind == "literal_error":
        return tr("must be one of {values}", values=ctx.get("expected"))
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        return tr("out of range ({bound})", bound=bound)
    if kind == "union_tag_invalid":
        return tr("type must be one of {values}", values=ctx.get("expected_tags"))
    if kind == "union_tag_not_found":
        return tr("type is missing (telegram, onebot, wecom or console)")
    if kind in ("int_parsing", "float_parsing", "int_type", "float_type"):
        return tr("must be a number")
    if kind in ("string_type",):
        return tr("must be text")
    if kind in ("bool_type", "bool_parsing"):
        return tr("must be true or false")
    if kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        return tr("wrong kind of value")
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


# -- a starting point ---------------------------------------------------------------------


def starter() -> str:
    """The file `qunzhu config init` writes: the console connector and one trial group with
    every policy on, so `qunzhu run` shows everything at once, and the real platforms
    commented out."""
    return tr(STARTER_EN)


STARTER_EN = """\
# qunzhu.toml: your communities, groups, connectors and policies.
# Secrets are never written here: a connector names the environment variable holding each one.

[store]
# url = "postgresql+psycopg://user@127.0.0.1:5432/qunzhu"   # default: ./qunzhu.db

[connectors.console]
type = "console"          # type in the terminal as different members
group = "console"

# [connectors.tg]
# type = "telegram"
# token_env = "QUNZHU_TELEGRAM_TOKEN"
# mode = "polling"        # or "webhook" with webhook_url and webhook_secret_env
# cas = true              # keep out accounts cas.chat lists as spammers (tells it the ids)
# community = "Running club"   # groups not listed below run this community's policies

# [connectors.wx]         # WeCom customer groups, through the message archive
# type = "wecom"
# archive = "archive/messages.jsonl"   # what your archive puller appends, decrypted
# corp_id = "ww..."       # with agent_id and secret_env: the owner is told by app message
# agent_id = 1000002
# secret_env = "QUNZHU_WECOM_SECRET"
# callback_token_env = "QUNZHU_WECOM_CB_TOKEN"      # the app's event callback: joins, leaves
# callback_aes_key_env = "QUNZHU_WECOM_CB_AES_KEY"
# listen = "127.0.0.1:8091"                         # path /wecom, behind your HTTPS proxy

# [connectors.qq]
# type = "onebot"         # NapCat, Lagrange...
# mode = "forward"
# url = "ws://127.0.0.1:3001"
# access_token_env = "QUNZHU_ONEBOT_TOKEN"

# [language_model]        # asked for a second opinion where a group's second_opinion says so
# url = "http://127.0.0.1:11434/v1"   # any OpenAI-compatible API; Ollama keeps messages here
# model = "qwen2.5:7b"
# key_env = "QUNZHU_LLM_KEY"           # a hosted one's key, from the environment
# daily = 1000                         # calls a day at most

[[communities]]
name = "Running club"

[communities.policies.moderation]
mode = "enforce"          # shadow: decide and record only; training: ask admins; enforce: act
learn = true              # train the community's own model from the console's answers
blocklist = true          # a member banned in one group is kept out of the community's others
# delete_notices = true   # take down Telegram's "X joined the group" messages
# read_pictures = false   # do not read the text in members' pictures (on by default)
# second_opinion = "questions"   # the [language_model] reads what would be asked of an admin

[communities.policies.welcome]
template = "Welcome %NICKNAME%! Please introduce yourself: city, trade, what you seek here."
rules = "Rules: no ads, no QR codes, be kind."
batch_s = 5
# delete_after_min = 60   # take the welcome down after an hour (0: keep it)

[communities.policies.admission]
answers = ["run"]
reject_words = ["wechat"]

# [communities.policies.captcha]   # newcomers answer in the chat, or are removed
# timeout_s = 180
# question = "What do we do on Saturdays?"   # empty: a sum, different for each newcomer
# answers = ["run"]

# [communities.policies.raid]      # many newcomers at once: remove newcomers for a while
# joins = 20                       # (off while a referral campaign brings crowds on purpose)
# window_s = 60
# lock_min = 30
# mute_all = false                 # true: also mute the whole group meanwhile
# community_joins = 0              # N: that many across the community's groups lock each too

[communities.policies.nickname]
pattern = '[^-\\s]+-[^-\\s]+-[^-\\s]+'
example = "City-Trade-Name"

[communities.policies.auto_reply]
cooldown_s = 60
answers = [{ keywords = ["what time", "when"], text = "We run every Saturday at 7:00." }]

[[groups]]
name = "Trial group"
community = "Running club"
connector = "console"
id = "console"
"""

i18n.register(
    {
        "webhook mode needs webhook_url and webhook_secret_env": (
            "webhook 模式需要 webhook_url 和 webhook_secret_env"
        ),
        "not a regular expression: {why}": "不是有效的正则表达式：{why}",
        "callbacks need callback_token_env, callback_aes_key_env and the app": (
            "回调需要 callback_token_env、callback_aes_key_env 以及自建应用的设置"
        ),
        "corp_id, agent_id and secret_env go together": (
            "corp_id、agent_id 和 secret_env 须同时填写"
        ),
        "too slow: it takes over {ms} ms on a {n}-character name that does not fit "
        "(repetition inside repetition, such as (\\w|\\w\\w)+, backtracks)": (
            "太慢：在一个不符合的 {n} 字昵称上要超过 {ms} 毫秒"
            "（重复里套重复，例如 (\\w|\\w\\w)+，会反复回溯）"
        ),
        "{where}: no connector named {name!r}": "{where}：没有名为 {name!r} 的连接器",
        "{where}: no community named {name!r}": "{where}：没有名为 {name!r} 的社群",
        "{where}: group {id} is listed twice": "{where}：群 {id} 重复出现",
        "{where}: another group is named {name!r}": "{where}：已有另一个群名为 {name!r}",
        "connectors.{name}: the environment variable {var} is not set": (
            "connectors.{name}：环境变量 {var} 未设置"
        ),
        "{path}: no such file (`qunzhu config init` writes one)": (
            "{path}：文件不存在（`qunzhu config init` 可生成一个）"
        ),
        "{path}: cannot read it: {why}": "{path}：无法读取：{why}",
        "{path}: not valid TOML: {why}": "{path}：不是有效的 TOML：{why}",
        "{where}: {key}: secrets do not belong in the file; name an environment variable "
        "with {key}_env": "{where}：{key}：密钥不应写在文件里；请用 {key}_env 指定环境变量",
        "required": "必填",
        "unknown setting": "未知设置项",
        "at most {n} characters": "最多 {n} 个字",
        "must not be empty": "不能为空",
        "must be one of {values}": "只能是 {values} 之一",
        "out of range ({bound})": "超出范围（{bound}）",
        "type must be one of {values}": "type 只能是 {values} 之一",
        "type is missing (telegram, onebot, wecom or console)": (
            "缺少 type（telegram、onebot、wecom 或 console）"
        ),
        "must be a number": "必须是数字",
        "must be text": "必须是文字",
        "must be true or false": "必须是 true 或 false",
        "review_from must be below spam_from": "review_from 必须小于 spam_from",
        "a question needs at least one answer": "设置了问题就至少要有一个答案",
        "answers need a question": "有答案就要设置问题",
        "wrong kind of value": "值的类型不对",
        STARTER_EN: """\
# qunzhu.toml：你的社群、群、连接器和策略。
# 密钥从不写在这里：连接器只写出保存密钥的环境变量名。

[store]
# url = "postgresql+psycopg://user@127.0.0.1:5432/qunzhu"   # 默认：./qunzhu.db

[connectors.console]
type = "console"          # 在终端里扮演不同成员发言
group = "console"

# [connectors.tg]
# type = "telegram"
# token_env = "QUNZHU_TELEGRAM_TOKEN"
# mode = "polling"        # 或 "webhook"，同时填写 webhook_url 和 webhook_secret_env
# cas = true              # 移出 cas.chat 列出的垃圾账号（会把成员 ID 发给 cas.chat 查询）
# community = "跑团"      # 下面未列出的群，自动套用这个社群的规则

# [connectors.wx]         # 企业微信客户群：读取会话存档
# type = "wecom"
# archive = "archive/messages.jsonl"   # 会话存档拉取程序写出的解密消息（每行一条 JSON）
# corp_id = "ww..."       # 与 agent_id、secret_env 一起填写：通过自建应用消息通知群主
# agent_id = 1000002
# secret_env = "QUNZHU_WECOM_SECRET"
# callback_token_env = "QUNZHU_WECOM_CB_TOKEN"      # 应用的接收事件服务器：入群、退群
# callback_aes_key_env = "QUNZHU_WECOM_CB_AES_KEY"
# listen = "127.0.0.1:8091"                         # 路径 /wecom，请放在 HTTPS 反向代理之后

# [connectors.qq]
# type = "onebot"         # NapCat、Lagrange 等
# mode = "forward"
# url = "ws://127.0.0.1:3001"
# access_token_env = "QUNZHU_ONEBOT_TOKEN"

# [language_model]        # 群的 second_opinion 打开时，请它复核拿不准的消息
# url = "http://127.0.0.1:11434/v1"   # 任何兼容 OpenAI 的接口；本机 Ollama 让消息不出本机
# model = "qwen2.5:7b"
# key_env = "QUNZHU_LLM_KEY"           # 云端服务的密钥，从环境变量读取
# daily = 1000                         # 每天最多调用次数

[[communities]]
name = "跑团"

[communities.policies.moderation]
mode = "enforce"          # shadow：只判断并记录；training：请管理员确认；enforce：直接处理
learn = true              # 用审核队列里的回答训练本社群自己的模型
blocklist = true          # 在一个群被拉黑的成员，社群的其他群也不让进
# delete_notices = true   # 自动删除 Telegram 的“某某加入了群组”提示
# read_pictures = false   # 不识别成员图片里的文字（默认识别）
# second_opinion = "questions"   # 本要问管理员的消息先交给 [language_model] 判断

[communities.policies.welcome]
template = "欢迎 %NICKNAME%！请做个自我介绍：城市、行业，以及你想在这里找到什么。"
rules = "群规：不发广告，不发二维码，友善交流。"
batch_s = 5
# delete_after_min = 60   # 欢迎语一小时后自动撤回（0：保留）

[communities.policies.admission]
answers = ["跑步"]
reject_words = ["加微信"]

# [communities.policies.captcha]   # 入群验证：新人须在群里答题，否则被移出
# timeout_s = 180
# question = "我们每周六做什么？"   # 留空：用中文数字出一道加法题，每位新人不同
# answers = ["跑步"]

# [communities.policies.raid]      # 防刷群：短时间涌入大量新人时，一段时间内新人一律移出
# joins = 20                       # （做裂变拉新、有意引来大量新人时请关闭）
# window_s = 60
# lock_min = 30
# mute_all = false                 # true：同时全员禁言
# community_joins = 0              # N：全社群合计达到 N 人时，之后有新人加入的群也进入防护

[communities.policies.nickname]
pattern = '[^-\\s]+-[^-\\s]+-[^-\\s]+'
example = "城市-行业-姓名"

[communities.policies.auto_reply]
cooldown_s = 60
answers = [{ keywords = ["几点", "什么时候"], text = "每周六早上七点集合跑步。" }]

[[groups]]
name = "试验群"
community = "跑团"
connector = "console"
id = "console"
""",
    }
)
