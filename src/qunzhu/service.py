"""qunzhu live: the policies and connectors a `qunzhu.toml` describes, and running them.

`setups` turns the checked configuration into each group's policy objects (one detector
memory per community, so an ad posted in three of its groups is seen as one campaign);
`connectors` makes the connector objects with their secrets; `serve` runs them with the engine
until asked to stop, then stops the connectors first, processes what they delivered and
executes what is due, so nothing received is left unjudged.

Policies changed in the console are stored in `group_settings` (the shape of
`[groups.policies]`) and laid over the file's, key by key, as a group's own tables are laid over
its community's; `watch_settings` notices a change and hands the engine the new setups while it
runs. The spam and not-spam labels people give in the console's moderation queue reach the
spam bank of the group's community the same way (`BankFeed`), so a confirmed ad reworded and
posted again is caught while the engine runs, and each community's own content model is
trained again from them in a process of its own (`moderation.learning.Learner`). At start the
configured groups are stored in their communities (`place_groups`: the console shows a group
to its community's operators by the store, not the file), and the detectors read the last
day's messages back from the store (`recall_behaviour`), with their pictures' fingerprints,
so a restart does not split a campaign, a flood or a poster's round of the groups in two.
`serve` also writes what it sees of each connector to `connector_status` for the console.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Engine, exists, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from qunzhu.config import Config, ConfigError, GroupSettings, Keyword, PolicySettings, _lines
from qunzhu.connectors import Connector, Emit, Roster
from qunzhu.connectors.language_model import ChatEndpoint
from qunzhu.engine.faults import Faults
from qunzhu.engine.opinions import DAY_S, SecondOpinions
from qunzhu.engine.policies import (
    CONFIRMED_COPY,
    UNCHECKED,
    AdmissionPolicy,
    Answer,
    AutoReplyPolicy,
    CaptchaPolicy,
    ModerationPolicy,
    NicknamePolicy,
    NoticePolicy,
    Policy,
    RaidPolicy,
    WelcomePolicy,
)
from qunzhu.engine.replay import stored_kinds
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.i18n import tr
from qunzhu.model import Group, Platform
from qunzhu.model.live import ActionFailed, Appeal, LiveEvent, RosterEntry
from qunzhu.moderation import feedback
from qunzhu.moderation.behaviour import (
    CROSS_WINDOW_S,
    JOINS_KEPT_S,
    Behaviour,
    Context,
    SpamBank,
    TrustBook,
)
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import DEFAULT_LOCKED, Detector
from qunzhu.moderation.engine import Policy as Rules
from qunzhu.moderation.learning import Learner
from qunzhu.moderation.model import ContentModel
from qunzhu.moderation.normalize import normalize
from qunzhu.store import appeals, inbox, pictures, roster
from qunzhu.store import schema as t
from qunzhu.store.db import said
from qunzhu.store.db import unreachable as store_unreachable
from qunzhu.store.ingest import Ingest, place_group, start_import, to_ms
from qunzhu.store.privacy import ForgottenIds, forgotten_lately

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (platform, the platform's group id), as the store keeps groups
LEARNT_DIR = "learnt-models"  # beside qunzhu.toml: each community's model learnt from answers
Memory = tuple[Behaviour, TrustBook, SpamBank]  # what a community's detectors share
Memories = dict[str | None, Memory]


def _memory(memories: Memories, community: str | None) -> Memory:
    return memories.setdefault(community, (Behaviour(), TrustBook(), SpamBank()))


def setups(
    config: Config,
    base: Path = Path("."),
    overrides: Mapping[Key, Mapping[str, Any]] | None = None,
    *,
    communities: Mapping[Key, str | None] | None = None,
    memories: Memories | None = None,
    models: dict[Path, ContentModel] | None = None,
    learner: Learner | None = None,
) -> Setups:
    """Every configured group's policies; groups nobody configured are stored, not policed,
    unless their connector names a community for them (`community`): then they run that
    community's policies from their first event on (`Setups.adopt`). Relative model paths are
    read from `base` (the configuration file's folder).

    `overrides` (see `stored_policies`) are laid over the file's policies key by key; a group
    the file does not name but `overrides` does is configured too, on the one connector of its
    platform (`communities` says which community's memory it shares). `memories` and `models`
    may be kept between calls, so a reload keeps what the detectors learned. A group that
    learns (`moderation.learn`) gets its community's model from `learner` once there is one,
    and tells the learner which communities learn, on top of which model."""
    memories = {} if memories is None else memories
    models = {} if models is None else models
    if learner is not None:
        learner.bases.clear()  # filled again below: a group may have stopped learning
    extra = dict(overrides or {})
    asks = config.language_model is not None  # a group's second_opinion has a model to ask
    groups = {}
    for group in config.groups:
        settings = group.policies
        connector = config.connectors.get(group.connector)
        key = (PLATFORMS[connector.type], group.id) if connector else None
        own = extra.pop(key, None) if key else None
        if own is not None:
            settings = _laid_over(settings, own, group.name) or settings
        memory = _memory(memories, group.community)
        learnt = _learnt(learner, group.community, settings, base)
        policies = policies_of(
            settings, memory, lambda p: _model(p, base, models), learnt, asks=asks
        )
        groups[(group.connector, group.id)] = GroupSetup(policies, group.admin_chat)
    defaults = {  # connector -> the community whose policies the groups it meets unlisted run
        name: settings.community
        for name, settings in config.connectors.items()
        if getattr(settings, "community", None)
    }
    for (platform, platform_id), own in extra.items():
        name = _connector_of(config, platform)
        if name is None or (name, platform_id) in groups:
            continue  # no connector, or no single one, reaches this group
        under = config.community_policies(defaults[name]) if name in defaults else None
        settings = _laid_over(under or PolicySettings(), own, f"{platform}:{platform_id}")
        if settings is None:
            continue
        community = (communities or {}).get((platform, platform_id))
        memory = _memory(memories, community)
        learnt = _learnt(learner, community, settings, base)
        policies = policies_of(
            settings, memory, lambda p: _model(p, base, models), learnt, asks=asks
        )
        groups[(name, platform_id)] = GroupSetup(policies)

    def adopt(connector: str) -> GroupSetup:
        """A group the connector met that no one configured: its community's policies."""
        community = defaults[connector]
        settings = config.community_policies(community)
        memory = _memory(memories, community)
        learnt = _learnt(learner, community, settings, base)
        model = lambda p: _model(p, base, models)  # noqa: E731
        return GroupSetup(policies_of(settings, memory, model, learnt, asks=asks))

    return Setups(groups, communities=defaults, adopt=adopt if defaults else None)


def _learnt(
    learner: Learner | None, community: str | None, settings: PolicySettings, base: Path
) -> ContentModel | None:
    m = settings.moderation
    if learner is None or not (m.enabled and m.learn):
        return None
    on = None if m.model is None else m.model if m.model.is_absolute() else base / m.model
    return learner.model_for(community, on)


def _laid_over(
    settings: PolicySettings, own: Mapping[str, Any], where: str
) -> PolicySettings | None:
    """The console's policies over the file's, key by key within each policy; None (and a line
    in the log) when the result is not valid."""
    base = settings.model_dump(mode="json", exclude_unset=True)
    merged: dict[str, Any] = dict(base)
    for key, mine in own.items():
        inherited = base.get(key)
        merged[key] = (
            {**inherited, **mine}
            if isinstance(inherited, dict) and isinstance(mine, dict)
            else mine
        )
    try:
        return PolicySettings.model_validate(merged)
    except ValidationError as exc:
        why = "; ".join(_lines(exc, where))
        log.warning(tr("ignoring the console's settings: {why}", why=why))
        return None


def _connector_of(config: Config, platform: str) -> str | None:
    """The connector that reaches groups of `platform`, when exactly one does."""
    names = [n for n, s in config.connectors.items() if PLATFORMS[s.type] == platform]
    return names[0] if len(names) == 1 else None


def stored_policies(engine: Engine) -> dict[Key, dict[str, Any]]:
    """The policies changed in the console, by (platform, platform group id)."""
    return {key: policies for key, (policies, _) in _stored(engine).items()}


def _stored(engine: Engine) -> dict[Key, tuple[dict[str, Any], str | None]]:
    gs, g, c = t.group_settings, t.groups, t.communities
    with engine.connect() as conn:
        rows = conn.execute(
            select(g.c.platform, g.c.platform_id, gs.c.policies, c.c.name).select_from(
                gs.join(g, g.c.id == gs.c.group_id).outerjoin(c, c.c.id == g.c.community_id)
            )
        ).all()
    found = {}
    for row in rows:
        try:
            policies = orjson.loads(row.policies)
        except orjson.JSONDecodeError:
            policies = None
        if not isinstance(policies, dict):
            log.warning(
                tr(
                    "group {platform}:{id}: stored settings are not a table",
                    platform=row.platform,
                    id=row.platform_id,
                )
            )
            continue
        found[(row.platform, row.platform_id)] = (policies, row.name)
    return found


def live_setups(
    config: Config,
    engine: Engine,
    base: Path = Path("."),
    memories: Memories | None = None,
    models: dict[Path, ContentModel] | None = None,
    learner: Learner | None = None,
) -> Setups:
    """`setups` with the console's changes laid over the file; the groups a connector
    adopted before (`community` on the connector) adopted again now, so that what runs at a
    start (sweeps, the detectors' recall of the last minutes) reaches them too."""
    stored = _stored(engine)
    made = setups(
        config,
        base,
        {key: policies for key, (policies, _) in stored.items()},
        communities={key: community for key, (_, community) in stored.items()},
        memories=memories,
        models=models,
        learner=learner,
    )
    g, c = t.groups, t.communities
    for connector, community in made.communities.items():
        platform = PLATFORMS[config.connectors[connector].type]
        with engine.connect() as conn:
            found = conn.execute(
                select(g.c.platform_id)
                .join(c, c.c.id == g.c.community_id)
                .where(g.c.platform == platform, c.c.name == community)
            ).scalars()
            for platform_id in found:
                made.of(connector, platform_id)
    return made


def place_groups(config: Config, engine: Engine) -> None:
    """Store every configured group in its community (`store.ingest.place_group`)."""
    with engine.begin() as conn:
        for group in config.groups:
            connector = config.connectors.get(group.connector)
            if connector is not None:
                place_group(conn, PLATFORMS[connector.type], group.id, group.name, group.community)


ROSTER_EVERY_S = 6 * 3600  # how often platforms that list members are asked who is in
ROSTER_RETRY_S = 60.0  # ... and again this soon when one could not answer (not connected yet)


async def watch_rosters(
    runtime: Runtime,
    config: Config,
    every_s: float = ROSTER_EVERY_S,
    retry_s: float = ROSTER_RETRY_S,
) -> None:
    """At start and every `every_s`, ask each platform that lists a group's members (OneBot)
    who is in each configured group, store the joins and leaves the store missed
    (`store.roster`), then sweep every block again: someone blocked long ago may only now be
    known to be in a group. A platform that cannot answer yet is asked again after `retry_s`,
    and so is a group whose list would have many members leave at once (`store.roster`)."""
    held: dict[str, frozenset[str]] = {}  # group -> leavers the last reading held back
    while True:
        again = False
        for group in config.groups:
            connector = runtime.connectors.get(group.connector)
            settings = config.connectors.get(group.connector)
            if connector is None or settings is None or not isinstance(connector, Roster):
                continue
            try:
                present = await connector.roster(group.id)
            except ActionFailed as exc:
                log.info(tr("roster of {group} not read yet: {why}", group=group.name, why=exc))
                again = True
                continue
            platform = PLATFORMS[settings.type]
            believed = held.pop(group.id, frozenset())
            try:
                written, doubted = await asyncio.to_thread(
                    _write_roster,
                    runtime.engine,
                    (group.connector, platform, group.id),
                    present,
                    believed,
                )
            except Exception:  # a busy or conflicting store: the next round tries again
                _failed(tr("cannot store the roster of {group}", group=group.name))
                again = True
                continue
            log.info(
                tr(
                    "roster of {group}: {n} missed joins and leaves stored",
                    group=group.name,
                    n=written,
                )
            )
            if doubted:
                log.warning(
                    tr(
                        "roster of {group} leaves out {n} members the store has in it: their "
                        "leaves are held until the next reading says the same",
                        group=group.name,
                        n=len(doubted),
                    )
                )
                held[group.id], again = doubted, True
        try:
            await asyncio.to_thread(runtime.sweep_blocks, 0)
        except Exception:
            _failed(tr("cannot keep the blocked members out after reading the rosters"))
        await asyncio.sleep(retry_s if again else every_s)


def _write_roster(
    engine: Engine,
    where: tuple[str, str, str],
    present: list[RosterEntry],
    believed: frozenset[str] = frozenset(),
) -> tuple[int, frozenset[str]]:
    """Store what the group's roster (`where`: connector, platform, group id) says the store
    missed, through the import path; how many events, and the leavers held back."""
    connector, platform, group_id = where
    with engine.begin() as conn:
        result = roster.missed(conn, platform, group_id, present, datetime.now(UTC), believed)
        found = result.events
        if not found:
            return 0, result.held
        g = t.groups
        name = conn.execute(
            select(g.c.name).where(g.c.platform == platform, g.c.platform_id == group_id)
        ).scalar_one()
        session = start_import(conn, connector, f"roster:{connector}")
        group = Group(Platform(platform), group_id, name)
        Ingest(conn, f"roster:{connector}", connector, import_id=session).run([group, *found])
    return len(found), result.held


FORGOTTEN_EVERY_S = 5.0  # how often the engine looks whether members were forgotten
INBOX_PRUNE_EVERY_S = 3600.0
PRUNE_PIECE = 10_000  # inbox rows let go in one transaction


async def watch_forgotten(runtime: Runtime, every_s: float = FORGOTTEN_EVERY_S) -> None:
    """Members forgotten while the engine runs (`qunzhu forget`, the console): within
    `every_s`, what it keeps of them in memory goes too (`Runtime.forget`). Those forgotten
    before it started were never in its memory: the first look only notes where to go on."""
    after, failing = -1, False
    while True:
        try:
            after, forgotten = await asyncio.to_thread(_forgotten_since, runtime.engine, after)
            if forgotten is not None:
                runtime.forget(forgotten)
            failing = False
        except Exception:
            if not failing:  # once until it works again: a store away fails every look
                _failed(tr("cannot read which members were forgotten"))
            failing = True
        await asyncio.sleep(every_s)


def _forgotten_since(engine: Engine, after: int) -> tuple[int, ForgottenIds | None]:
    with engine.connect() as conn:
        return forgotten_lately(conn, after)


async def prune_inbox(engine: Engine, every_s: float = INBOX_PRUNE_EVERY_S) -> None:
    """Every `every_s`, let go of the inbox rows a week old that nothing points to
    (`store/inbox.py`): the inbox stays as small as a week's traffic."""
    while True:
        try:
            n = await asyncio.to_thread(_prune, engine)
            if n:
                log.info(tr("{n} events older than a week let go from the inbox", n=n))
        except Exception:
            _failed(tr("cannot prune the inbox"))
        await asyncio.sleep(every_s)


def _prune(engine: Engine) -> int:
    """A piece at a time, each in a transaction of its own (`inbox.prune`)."""
    now, total = int(time.time() * 1000), 0
    while True:
        with engine.begin() as conn:
            n = inbox.prune(conn, now, limit=PRUNE_PIECE)
        total += n
        if n < PRUNE_PIECE:
            return total


def _failed(what: str) -> None:
    """Say what failed in a watcher, from its `except`: one line where the store is out of
    reach (every watcher fails alike then, and the engine says when it is back), the
    traceback where something else went wrong."""
    exc = sys.exc_info()[1]
    if exc is not None and store_unreachable(exc):
        log.warning(tr("{what} ({why})", what=what, why=said(exc)))
    else:
        log.exception(what)


def _settings_stamp(engine: Engine) -> tuple[int, int | None]:
    gs = t.group_settings
    with engine.connect() as conn:
        count, last = conn.execute(select(func.count(), func.max(gs.c.updated_at))).one()
    return int(count), last


async def watch_settings(
    runtime: Runtime,
    config: Config,
    engine: Engine,
    base: Path = Path("."),
    every_s: float = 5.0,
    ready: asyncio.Event | None = None,
) -> None:
    """Every `every_s`, look whether the console changed a group's settings; when it did,
    build the setups again and hand them to the running engine. Runs until cancelled. The first
    look is at once and always builds the setups (the runtime starts with the file's policies,
    and with memories this watcher cannot reach), then reads the last day back into their
    memories (`recall_behaviour`); `ready` is set after it.

    Each look also brings the spam and not-spam labels people gave in the console to the spam
    bank of the group's community (`BankFeed`) and, when they changed, trains that community's
    model again (`Learner`, models kept in `base`/LEARNT_DIR), then hands the engine setups
    with it; and keeps members people blocked out of the groups they are in now
    (`Runtime.sweep_blocks`: at start every block, made while it was down too, then the
    new ones)."""
    memories: Memories = {}
    models: dict[Path, ContentModel] = {}
    banks = BankFeed(memories)
    learner = Learner(base / LEARNT_DIR)
    seen: tuple[int, int | None] | None = None
    failed: tuple[int, int | None] | None = None
    recalled = False
    blocks_since = 0  # at start, every block: made while it was down, however long
    try:
        await asyncio.to_thread(place_groups, config, engine)
    except Exception:
        _failed(tr("cannot store the configured groups in their communities"))
    try:
        while True:
            stamp = None
            try:
                stamp = await asyncio.to_thread(_settings_stamp, engine)
                if stamp != seen:
                    fresh = await asyncio.to_thread(
                        live_setups, config, engine, base, memories, models, learner
                    )
                    runtime.reload(fresh)
                    seen = stamp
                    log.info(tr("settings reloaded"))
            except Exception:
                if stamp is None or stamp != failed:  # say it once per change, not every poll
                    _failed(tr("cannot reload the settings"))
                failed = stamp
            if not recalled:  # only at the first look, before any event is judged
                recalled = True
                if seen is not None:
                    try:
                        n = await asyncio.to_thread(
                            recall_behaviour, runtime.setups, config, engine, time.time()
                        )
                        log.info(tr("moderation recalled {n} messages of the last day", n=n))
                        n = await asyncio.to_thread(
                            recall_joins, runtime.setups, config, engine, time.time()
                        )
                        log.info(tr("raids recalled {n} newcomers of the last hour", n=n))
                    except Exception:
                        _failed(tr("cannot read back the last day's messages"))
            try:
                await banks.poll(engine)
                if banks.copies:
                    copies, banks.copies = banks.copies, []
                    n = await asyncio.to_thread(runtime.take_down, copies)
                    log.info(
                        tr(
                            "{n} decision(s) on earlier copies of pictures people said were ads",
                            n=n,
                        )
                    )
                if banks.text_copies:
                    copies, banks.text_copies = banks.text_copies, []
                    n = await asyncio.to_thread(runtime.take_down, copies, CONFIRMED_COPY)
                    log.info(
                        tr("{n} decision(s) on earlier copies of texts people said were ads", n=n)
                    )
                if banks.named:
                    named, banks.named = banks.named, []
                    n = await asyncio.to_thread(runtime.remove_named, named)
                    log.info(
                        tr("{n} decision(s) on members named like an ad name people confirmed", n=n)
                    )
            except Exception:
                _failed(tr("cannot read the moderation labels"))
            try:  # looking back as for labels: two console processes may commit out of order
                newest = await asyncio.to_thread(runtime.sweep_blocks, blocks_since)
                blocks_since = max(blocks_since, newest - BankFeed.LOOK_BACK_MS)
            except Exception:
                _failed(tr("cannot keep the newly blocked members out"))
            if ready is not None:
                ready.set()
            try:
                if seen is not None and await learner.poll(engine, time.time()):
                    fresh = await asyncio.to_thread(
                        live_setups, config, engine, base, memories, models, learner
                    )
                    runtime.reload(fresh)
            except Exception:
                _failed(tr("cannot train the communities' models or hand them over"))
            await asyncio.sleep(every_s)
    finally:
        learner.close()


class BankFeed:
    """Brings the console's spam / not-spam labels to each community's spam bank: "spam" adds
    the judged text, "not spam" takes the texts close to it out. Labels are read from a minute
    before the newest one seen (two console processes may commit out of order), each applied
    once. Labels are only ever added or deleted, so the store holding as many as were applied
    means nothing was missed; otherwise (a member forgotten took theirs along, one came later
    than the minute) the banks are built again from all of them."""

    LOOK_BACK_MS = 60_000

    def __init__(self, memories: Memories) -> None:
        self.memories = memories
        # the day's messages carrying a picture people have just said is an ad, posted
        # before they said it: (group, message, member), for the engine to take down; and
        # those alike to a text people have just said is an ad
        self.copies: list[tuple[str, str, str]] = []
        self.text_copies: list[tuple[str, str, str]] = []
        # the banks of communities where people have just said a display name was an ad, for
        # the engine to remove the members already in who are named alike
        self.named: list[SpamBank] = []
        self._seen: tuple[int, int | None] = (0, None)
        self._applied: set[int] = set()
        self._newest: int | None = None

    async def poll(self, engine: Engine) -> int:
        """Apply what is new; how many labels were applied."""
        stamp = await asyncio.to_thread(_labels_stamp, engine)
        if stamp == self._seen:
            return 0
        since = None if self._newest is None else self._newest - self.LOOK_BACK_MS
        applied = self.apply(await asyncio.to_thread(_labels_since, engine, since))
        if len(self._applied) != stamp[0]:
            for behaviour, _trust, bank in self.memories.values():
                bank.clear()
                behaviour.forget_learnt_pictures()
            self._applied.clear()
            self._newest = None
            applied = self.apply(await asyncio.to_thread(_labels_since, engine, None))
        self._seen = stamp
        return applied

    def apply(self, labels: Sequence[feedback.HumanLabel]) -> int:
        """Teach the banks these labels, each once; how many were new."""
        applied = 0
        for v in labels:
            if v.decision_id in self._applied:
                continue
            behaviour, _trust, bank = _memory(self.memories, v.community)
            text = normalize(v.text)
            bank.learn(text, v.spam, v.decision_id, v.origin)
            if v.spam and v.named and bank not in self.named:
                self.named.append(bank)
            judged = (v.group, v.record)
            if v.spam and not v.named:  # a name's likes are swept by `named`
                alike = behaviour.texts_like(text)
                self.text_copies.extend(c for c in alike if (c[0], c[1]) != judged)
            if v.pictures:
                behaviour.learn_pictures(v.pictures, v.spam)
                if v.spam:
                    copies = behaviour.copies_of(v.pictures)
                    self.copies.extend(c for c in copies if (c[0], c[1]) != judged)
            self._applied.add(v.decision_id)
            self._newest = v.at if self._newest is None else max(self._newest, v.at)
            applied += 1
        return applied


def _labels_stamp(engine: Engine) -> tuple[int, int | None]:
    with engine.connect() as conn:
        return feedback.stamp(conn)


def _labels_since(engine: Engine, at: int | None) -> list[feedback.HumanLabel]:
    with engine.connect() as conn:
        return feedback.labels_since(conn, at)


RECALL_LIMIT = 200_000  # the newest messages read back at start (seconds of work, not minutes)


def recall_behaviour(setups: Setups, config: Config, engine: Engine, now_s: float) -> int:
    """Give the detectors back what they saw of the last CROSS_WINDOW_S before a restart: a
    campaign posted in two groups before it and in a third after it is still one campaign, and
    a member's flood or repeated text still counts what came just before. Messages of staff and
    of trusted members are left out, as the detectors never look at them (otherwise a member
    forwarding the owner's announcement would look like a campaign): staff as the live policy
    marked them or as the store's memberships say (imports, the operator). How many were read."""
    watched: dict[Key, Behaviour] = {}
    for (connector, platform_id), setup in list(setups.groups.items()):
        settings = config.connectors.get(connector)
        for policy in setup.policies:
            if settings and isinstance(policy, ModerationPolicy) and policy.detector.behaviour:
                watched[(PLATFORMS[settings.type], platform_id)] = policy.detector.behaviour
    if not watched:
        return 0
    m, g, mb, pm = t.messages, t.groups, t.members, t.policy_marks
    with engine.connect() as conn:
        groups = {
            row.id: (row.platform, row.platform_id)
            for row in conn.execute(select(g.c.id, g.c.platform, g.c.platform_id))
            if (row.platform, row.platform_id) in watched
        }
        skipped = {
            (row.group_id, row.key)
            for row in conn.execute(
                select(pm.c.group_id, pm.c.key).where(
                    pm.c.group_id.in_(groups), or_(*(pm.c.key.like(f"{k}:%") for k in UNCHECKED))
                )
            )
        }
        ms = t.memberships
        rows = conn.execute(
            select(
                m.c.id,
                m.c.group_id,
                m.c.platform_id,
                m.c.sent_at,
                m.c.text,
                m.c.kind,
                m.c.urls,
                mb.c.external_id,
            )
            .join(mb, mb.c.id == m.c.sender_id)
            .outerjoin(ms, (ms.c.group_id == m.c.group_id) & (ms.c.member_id == m.c.sender_id))
            .where(
                m.c.group_id.in_(groups),
                m.c.sent_at >= int((now_s - CROSS_WINDOW_S) * 1000),
                (m.c.text != "") | exists().where(t.message_pictures.c.message_id == m.c.id),
                ms.c.role.is_(None) | ms.c.role.not_in(sorted(TrustBook.STAFF)),
            )
            .order_by(m.c.sent_at.desc(), m.c.id.desc())
            .limit(RECALL_LIMIT)
        ).all()
        prints = pictures.since(conn, groups, int((now_s - CROSS_WINDOW_S) * 1000))
    recalled = 0
    for row in reversed(rows):  # oldest first, as they came
        if any((row.group_id, f"{kind}:{row.external_id}") in skipped for kind in UNCHECKED):
            continue
        key = groups[row.group_id]
        ctx = Context(
            group=key[1],
            member=row.external_id,
            at=row.sent_at / 1000,
            kinds=stored_kinds(row.kind, row.urls),  # a sticker is no picture going round
            pictures=prints.get(row.id, ()),
            message=row.platform_id,
        )
        watched[key].observe(normalize(row.text), ctx)
        recalled += 1
    return recalled


def recall_joins(setups: Setups, config: Config, engine: Engine, now_s: float) -> int:
    """Give the community counts of join raids (`RaidPolicy.community_joins`) back the last
    hour's newcomers after a restart, so a raid spread over the groups before and after it is
    still one wave. How many joins were read."""
    watched: dict[Key, Behaviour] = {}
    for (connector, platform_id), setup in list(setups.groups.items()):
        settings = config.connectors.get(connector)
        for policy in setup.policies:
            counted = isinstance(policy, RaidPolicy) and policy.community_joins
            if settings and counted and policy.community is not None:
                watched[(PLATFORMS[settings.type], platform_id)] = policy.community
    if not watched:
        return 0
    ev, g, mb = t.membership_events, t.groups, t.members
    with engine.connect() as conn:
        rows = conn.execute(
            select(g.c.platform, g.c.platform_id, mb.c.external_id, ev.c.at)
            .join(g, g.c.id == ev.c.group_id)
            .join(mb, mb.c.id == ev.c.member_id)
            .where(
                ev.c.action == "join",
                ev.c.at >= int((now_s - JOINS_KEPT_S) * 1000),
                g.c.platform_id.in_(sorted({p for _, p in watched})),
            )
            .order_by(ev.c.at, ev.c.id)
        ).all()
    recalled = 0
    for row in rows:
        community = watched.get((row.platform, row.platform_id))
        if community is not None:
            community.joined(row.platform_id, row.external_id, row.at / 1000)
            recalled += 1
    return recalled


def _words(listed: dict[str, float | Keyword] | None) -> dict[str, Any] | None:
    """A word list as the settings give it, as the moderation policy reads it."""
    if listed is None:
        return None
    return {w: e if isinstance(e, float) else e.model_dump() for w, e in listed.items()}


def policies_of(
    settings: PolicySettings,
    memory: Memory | None = None,
    model: Callable[[Path], ContentModel] | None = None,
    learnt: ContentModel | None = None,
    *,
    asks: bool = False,
) -> list[Policy]:
    """The policy objects for one group's settings, in the order they look at an event;
    `learnt`, the community's model learnt from people's answers, replaces the configured one
    (it was trained on top of it). `asks`: a language model is there to ask for a second
    opinion (the running engine's; never a replay's)."""
    out: list[Policy] = []
    m = settings.moderation
    if m.delete_notices:
        out.append(NoticePolicy())
    if (raid := settings.raid) and raid.enabled:  # first: a raid's newcomer needs nothing else
        out.append(
            RaidPolicy(
                Mode(m.mode),
                raid.joins,
                raid.window_s,
                raid.lock_min,
                raid.mute_all,
                raid.community_joins,
                memory[0] if memory else None,
            )
        )
    if (c := settings.captcha) and c.enabled:  # first: an open question takes a message alone
        answers = tuple(a.strip() for a in c.answers if a.strip())
        out.append(CaptchaPolicy(Mode(m.mode), c.timeout_s, c.question.strip(), answers, c.tries))
    detector: Detector | None = None  # moderation's, which admission asks about the asker too
    if m.enabled:
        behaviour, trust, bank = memory or (Behaviour(), TrustBook(), SpamBank())
        rules = Rules(
            keywords=_words(m.keywords),
            abuse=_words(m.abuse),
            allow_domains=m.allow_domains,
            deny_domains=m.deny_domains,
            locked=DEFAULT_LOCKED if m.locked is None else m.locked,
            probation_h=m.probation_h,
            review_from=m.review_from,
            spam_from=m.spam_from,
        )
        content = learnt or (model(m.model) if model and m.model else None)
        detector = Detector(rules, content, behaviour, trust, bank)
        out.append(
            ModerationPolicy(
                detector,
                Ladder(Mode(m.mode)),
                warning=m.warning,
                blocklist=m.blocklist,
                reports_needed=m.reports,
                read_pictures=m.read_pictures,
                second_opinion=m.second_opinion if asks else "off",
            )
        )
    if (w := settings.welcome) and w.enabled:
        asks = bool(settings.captcha and settings.captcha.enabled)
        out.append(
            WelcomePolicy(
                w.template,
                w.rules,
                w.batch_s,
                delete_after_s=w.delete_after_min * 60,
                after_captcha=asks,
            )
        )
    if (a := settings.admission) and a.enabled:
        out.append(
            AdmissionPolicy(
                tuple(a.answers),
                tuple(a.reject_words),
                tuple(a.approve_tags),
                tuple(a.reject_tags),
                blocklist=m.blocklist,
                detector=detector,
            )
        )
    if (n := settings.nickname) and n.enabled:
        out.append(NicknamePolicy(n.pattern, n.example, n.grace_h))
    if (r := settings.auto_reply) and r.enabled:
        answers = tuple(Answer(tuple(x.keywords), x.text) for x in r.answers)
        out.append(AutoReplyPolicy(answers, r.cooldown_s))
    return out


def _model(path: Path, base: Path, cache: dict[Path, ContentModel]) -> ContentModel:
    full = path if path.is_absolute() else base / path
    if full not in cache:
        try:
            cache[full] = ContentModel.load(full)
        except (ValueError, OSError, EOFError) as exc:
            raise ConfigError(
                tr("cannot read the content model {path}: {why}", path=full, why=exc)
            ) from None
    return cache[full]


def connectors(config: Config, secrets: Mapping[str, Mapping[str, str]]) -> dict[str, Connector]:
    """The connector objects, each with its secrets (see `Config.secrets`)."""
    from qunzhu.connectors.cas import Cas
    from qunzhu.connectors.console import ConsoleConnector
    from qunzhu.connectors.onebot import OneBotConnector
    from qunzhu.connectors.telegram import TelegramConnector
    from qunzhu.connectors.wecom import WeComConnector

    made: dict[str, Connector] = {}
    for name, s in config.connectors.items():
        keys = secrets.get(name, {})
        try:
            if s.type == "telegram":
                made[name] = TelegramConnector(
                    name,
                    keys["token"],
                    api_base=s.api_base,
                    mode=s.mode,
                    webhook_secret=keys.get("webhook_secret"),
                    cas=Cas(s.cas_api) if s.cas else None,
                )
            elif s.type == "onebot":
                made[name] = OneBotConnector(
                    name,
                    mode=s.mode,
                    url=s.url,
                    host=s.host,
                    port=s.port,
                    access_token=keys.get("access_token"),
                )
            elif s.type == "wecom":
                made[name] = WeComConnector(
                    name,
                    Path(s.archive),
                    corp_id=s.corp_id,
                    agent_id=s.agent_id,
                    secret=keys.get("secret"),
                    callback_token=keys.get("callback_token"),
                    callback_aes_key=keys.get("callback_aes_key"),
                    api_base=s.api_base,
                )
            else:
                own = _configured_console(config, name, s.group)
                made[name] = ConsoleConnector(name, group_id=s.group, group_name=own)
        except ValueError as exc:  # a malformed token and the like
            raise ConfigError(f"connectors.{name}: {exc}") from None
    return made


async def serve(
    runtime: Runtime,
    config: Config,
    stop: asyncio.Event | None = None,
    base: Path = Path("."),
    settings_every_s: float = 5.0,
) -> None:
    """Run the connectors and the engine until `stop` is set (Ctrl-C sets it) or every
    connector has ended (the console's /quit); then stop the connectors, process what they
    delivered and execute what is due. Actions held back on purpose (a welcome waiting for
    more newcomers) stay queued in the store and go out at the next start.

    Meanwhile settings changed in the console reach the engine (`watch_settings`, `base` being
    the configuration file's folder), platforms that list members say who is in each group
    (`watch_rosters`), and each connector's state is kept in `connector_status`."""
    stop = stop or asyncio.Event()
    if config.language_model is not None and runtime.opinions is None:
        runtime.opinions = second_opinions(config, runtime.accept, runtime.engine)
    ready = asyncio.Event()
    settings = asyncio.create_task(
        watch_settings(runtime, config, runtime.engine, base, settings_every_s, ready)
    )
    await ready.wait()  # the console's settings apply from the first event on
    gc.collect()
    gc.freeze()  # the models are loaded: the collector need not walk them again (bench/engine)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # not on Windows
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    emits = {
        name: _Watched(
            runtime.engine,
            name,
            _kind(config, name, connector),
            runtime.receive,
            runtime.reader.unread,
        )
        for name, connector in runtime.connectors.items()
    }
    for name, connector in runtime.connectors.items():
        if hasattr(connector, "appeals"):  # it reads members' private messages to the bot
            connector.appeals = Appeals(runtime.engine, name)
    try:
        sites = await _webhooks(runtime, config, emits)
    except BaseException:
        settings.cancel()
        raise
    tasks = [
        asyncio.create_task(_run_connector(connector, emits[name]), name=name)
        for name, connector in runtime.connectors.items()
    ]
    rosters = asyncio.create_task(watch_rosters(runtime, config))
    model = asyncio.create_task(watch_model(runtime))
    keeping = [
        asyncio.create_task(watch_forgotten(runtime)),
        asyncio.create_task(prune_inbox(runtime.engine)),
    ]
    runtime.faults.on_set_aside = _said_set_aside(runtime.engine, runtime.faults)
    write_status(runtime.engine, ENGINE_STATUS, "engine", state="running", last_error=None)
    engine_stop = asyncio.Event()
    engine_task = asyncio.create_task(runtime.serve(engine_stop))
    watcher = asyncio.create_task(_when_all_end(tasks, stop))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({engine_task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*tasks, *keeping, watcher, stopping, settings, rosters, model):
            task.cancel()
        await asyncio.gather(
            *tasks, *keeping, watcher, stopping, settings, rosters, model, return_exceptions=True
        )
        for site in sites:
            await site.cleanup()
        engine_stop.set()  # the connectors are quiet: judge what they delivered, send what is due
        await engine_task
        if not runtime.faults.set_aside:  # else it stays failing, saying why, until a start
            write_status(runtime.engine, ENGINE_STATUS, "engine", state="stopped")
        await asyncio.to_thread(model_status, runtime)
        with contextlib.suppress(NotImplementedError):
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def second_opinions(
    config: Config, deliver: Callable[[LiveEvent], object], engine: Engine
) -> SecondOpinions | None:
    """What asks the language model qunzhu.toml names (None where it names none), with the
    day's calls an earlier process made counted against the budget: a restart does not
    start the day's spending again."""
    settings = config.language_model
    if settings is None:
        return None
    endpoint = ChatEndpoint(
        settings.url, settings.model, config.model_key(), settings.timeout_s, settings.extra
    )
    spent = calls_today(engine)
    return SecondOpinions(deliver, endpoint, settings.model, settings.daily, spent=spent)


def calls_today(engine: Engine, now_s: float | None = None) -> int:
    """The calls to the language model an earlier engine made today (UTC), as its row in
    `connector_status` says (`watch_model` writes it within seconds of each call); 0 on a
    new day or where none was written."""
    cs = t.connector_status
    with engine.connect() as conn:
        row = conn.execute(
            select(cs.c.calls_today, cs.c.updated_at).where(cs.c.name == MODEL_STATUS)
        ).first()
    today = int((time.time() if now_s is None else now_s) // DAY_S)
    if row is None or row.calls_today is None or row.updated_at // 1000 // DAY_S != today:
        return 0
    return int(row.calls_today)


async def _when_all_end(tasks: list[asyncio.Task[Any]], stop: asyncio.Event) -> None:
    for task in asyncio.as_completed(tasks):
        try:
            await task
        except asyncio.CancelledError:
            raise
        except Exception:  # a connector that gave up: say so, keep the others running
            log.exception(tr("connector stopped"))
    stop.set()


APPEAL_REPLY_S = 60.0  # a member writing many lines gets one answer a minute
ANSWERED_KEPT = 10_000  # members whose last answer is remembered
# answers a minute through one bot, whoever writes: a thousand accounts writing to the bot
# must not spend the platform's sending limits that the groups' warnings need
ANSWERS_PER_MINUTE = 30


class Appeals:
    """What a connector hands members' private messages to (`Connector.appeals`): each is
    attached to what moderation did to its writer through that connector
    (`store/appeals.receive`), and the line returned is the answer to send them."""

    def __init__(self, engine: Engine, connector: str) -> None:
        self.engine, self.connector = engine, connector
        self._answered: dict[str, float] = {}  # member -> when their last appeal was answered
        self._recent: collections.deque[float] = collections.deque()  # the last minute's answers

    async def __call__(self, appeal: Appeal) -> str | None:
        """The answer, in one line; None where there is nothing to say (no id, no words), the
        member had an answer within APPEAL_REPLY_S, or ANSWERS_PER_MINUTE went out in the last
        minute (their words are kept all the same)."""
        member = appeal.member.user_id
        if member is None or not appeal.text.strip():
            return None
        try:
            found = await asyncio.to_thread(self._appealed, member, appeal)
        except SQLAlchemyError:
            log.exception(
                tr(
                    "cannot store the appeal of {member} through {connector}",
                    member=member,
                    connector=self.connector,
                )
            )
            return None
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= 60:
            self._recent.popleft()
        if now - self._answered.get(member, float("-inf")) < APPEAL_REPLY_S:
            return None
        if len(self._recent) >= ANSWERS_PER_MINUTE:
            return None  # their words are kept; the answer is what a flood of writers loses
        self._recent.append(now)
        self._answered.pop(member, None)
        self._answered[member] = now
        while len(self._answered) > ANSWERED_KEPT:
            del self._answered[next(iter(self._answered))]
        if found is None:
            return tr(
                "Nothing moderation did to you through this bot in the last 30 days is waiting "
                "for an answer; if something is wrong, ask the group's admins."
            )
        return tr(
            "Your appeal about {group} has reached its admins; they will look at it soon.",
            group=found.group_name,
        )

    def _appealed(self, member: str, appeal: Appeal) -> appeals.Appealed | None:
        with self.engine.begin() as conn:
            return appeals.receive(conn, self.connector, member, appeal.text, to_ms(appeal.at))


class _Watched:
    """A connector's emit function that also notes, at most every `every_s`, in
    `connector_status` when the connector last delivered an event, and how many of its
    pictures the reader let go since the start (`unread`, the reader's count per connector)."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        kind: str,
        emit: Emit,
        unread: Mapping[str, int],
        every_s: float = 1.0,
    ) -> None:
        self.engine, self.name, self.kind, self.emit, self.every_s = (
            engine,
            name,
            kind,
            emit,
            every_s,
        )
        self.unread = unread
        self.last_ms: int | None = None
        self._written = float("-inf")

    async def __call__(self, event: LiveEvent) -> None:
        await self.emit(event)
        now = time.monotonic()
        self.last_ms = int(time.time() * 1000)
        if now - self._written >= self.every_s:
            self._written = now
            self.status(last_event_at=self.last_ms)

    def status(self, **values: Any) -> None:
        """Write the connector's row."""
        values = {"pictures_unread": self.unread.get(self.name, 0), **values}
        write_status(self.engine, self.name, self.kind, **values)


def write_status(engine: Engine, name: str, kind: str, **values: Any) -> None:
    """Write a row of `connector_status`; a store that cannot be written is logged, never
    fatal."""
    now = int(time.time() * 1000)
    cs = t.connector_status
    try:
        with engine.begin() as conn:
            changed = conn.execute(
                update(cs).where(cs.c.name == name).values(kind=kind, updated_at=now, **values)
            ).rowcount
            if not changed:
                conn.execute(
                    cs.insert().values(
                        name=name, kind=kind, updated_at=now, **{"state": "running", **values}
                    )
                )
    except SQLAlchemyError:
        _failed(tr("cannot write the status of connector {name}", name=name))


MODEL_STATUS = "[language_model]"  # its row among the connectors (no connector is named so)
ENGINE_STATUS = "[engine]"  # the engine's own row: events it had to set aside


def _said_set_aside(engine: Engine, faults: Faults) -> Callable[[int, BaseException], None]:
    """What writes an event set aside (`engine/faults.py`) in the engine's row of the
    console's connectors: failing, with the event and the error, until it restarts. Once
    for a run of events that fail at one place (a bug every event meets): the first's."""

    def said(inbox_id: int, exc: BaseException) -> None:
        if faults.run > 1:
            return
        why = tr(
            "event {id} of the inbox set aside until the next start: {why}",
            id=inbox_id,
            why=f"{type(exc).__name__}: {exc}"[:300],
        )
        write_status(engine, ENGINE_STATUS, "engine", state="failing", last_error=why)

    return said


async def watch_model(runtime: Runtime, every_s: float = 5.0) -> None:
    """Keep the language model's row in `connector_status`: when it last answered, why its
    last call failed, and how many calls today cost, so that a wrong key or a service down
    shows in the console, not only in the log (tg-spam's users could not tell why its model's
    verdicts went missing), and so does the spending."""
    written: tuple[int | None, str, int] | None = None
    while True:
        written = await asyncio.to_thread(model_status, runtime, written)
        await asyncio.sleep(every_s)


def model_status(
    runtime: Runtime, written: tuple[int | None, str, int] | None = None
) -> tuple[int | None, str, int] | None:
    """Write the language model's row where it changed since `written`; what it says now.
    Also called once as the engine stops, so that the last calls are counted and a short run
    leaves its row too (a write begun in a cancelled watcher's thread may land after exit)."""
    opinions = runtime.opinions
    if opinions is None:
        return written
    seen = (opinions.last_answer_ms, opinions.last_error, opinions.spent_today())
    if seen != written:
        write_status(
            runtime.engine,
            MODEL_STATUS,
            "language_model",
            state="failing" if opinions.last_error else "running",
            last_event_at=seen[0],
            last_error=seen[1] or None,
            calls_today=seen[2],
        )
    return seen


async def _run_connector(connector: Connector, emit: _Watched) -> None:
    """`connector.run`, with its state in `connector_status`: running, then stopped (it ended
    or was stopped) or failing (it raised; the error is kept)."""
    emit.status(state="running", last_error=None)
    try:
        await connector.run(emit)
    except asyncio.CancelledError:
        emit.status(state="stopped", **_last(emit))
        raise
    except Exception as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        emit.status(state="failing", last_error=why[:2000], **_last(emit))
        raise
    emit.status(state="stopped", **_last(emit))


def _last(emit: _Watched) -> dict[str, Any]:
    return {} if emit.last_ms is None else {"last_event_at": emit.last_ms}


def _kind(config: Config, name: str, connector: Connector) -> str:
    settings = config.connectors.get(name)
    return settings.type if settings else type(connector).__name__.lower()[:20]


async def _webhooks(
    runtime: Runtime, config: Config, emits: Mapping[str, Emit] | None = None
) -> list[web.AppRunner]:
    """A web server for each Telegram connector in webhook mode (and the webhook set), and
    for each WeCom connector that takes callbacks."""
    from aiohttp import web  # imported here: the CLI starts without it (0.3 s)

    runners = []
    for name, settings in config.connectors.items():
        telegram = settings.type == "telegram" and settings.mode == "webhook"
        wecom = settings.type == "wecom" and settings.callback_token_env is not None
        if not (telegram or wecom):
            continue
        connector: Any = runtime.connectors[name]
        host, _, port = settings.listen.rpartition(":")
        emit = (emits or {}).get(name, runtime.receive)
        app = connector.webhook_app(emit) if telegram else connector.callback_app(emit)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
        if telegram:
            await connector.set_webhook(settings.webhook_url)
        runners.append(runner)
    return runners


def describe(config: Config) -> list[str]:
    """One line per group: where it is and which policies run there (for `config check`)."""
    lines = []
    if (model := config.language_model) is not None:
        lines.append(
            tr(
                "language model: {model} at {url}, {n} calls a day",
                model=model.model,
                url=model.url,
                n=model.daily,
            )
        )
    for group in config.groups:
        lines.append(f"{group.name} [{group.connector}:{group.id}]: {_policies(group.policies)}")
    for name, settings in config.connectors.items():
        if community := getattr(settings, "community", None):
            said = tr("other groups of {connector}", connector=name)
            lines.append(f"{said} [{community}]: {_policies(config.community_policies(community))}")
    return lines


def _policies(settings: PolicySettings) -> str:
    """The policies a group runs, moderation with its mode, for `config check`."""
    names = [p.name for p in policies_of(settings)]
    moderation = settings.moderation
    mode = moderation.mode if moderation.enabled else None
    if mode and moderation.second_opinion != "off":
        mode = f"{mode}, {moderation.second_opinion}"
    shown = [f"{n} ({mode})" if n == "moderation" else n for n in names]
    return ", ".join(shown) if shown else tr("no policies")


PLATFORMS = {  # connector type -> the platform its groups are on
    "telegram": "telegram",
    "onebot": "qq",
    "console": "console",
    "wecom": "wecom",
}


def replay_policies(
    config: Config | None,
    base: Path,
    detector: Detector,
    labels: Sequence[feedback.HumanLabel] = (),
) -> Callable[[str, str], list[Policy]]:
    """Policies for each stored group in a replay: its configured ones, with moderation acting
    as in `enforce` (a replay is there to show what the rules would do); groups the file does
    not name, or every group without a file, get moderation (`detector`'s rules and model)
    and a welcome. People's `labels` teach the banks as they teach the running engine's: each
    community's its own, the one memory of the groups the file does not name all of them."""
    memory: Memory = (Behaviour(), TrustBook(), SpamBank())
    memories: Memories = {}
    BankFeed(memories).apply(labels)
    BankFeed({None: memory}).apply([dataclasses.replace(v, community=None) for v in labels])
    models: dict[Path, ContentModel] = {}
    made: dict[tuple[str, str], list[Policy]] = {}

    def policies_for(platform: str, platform_id: str) -> list[Policy]:
        if (platform, platform_id) in made:
            return made[(platform, platform_id)]
        group = configured_group(config, platform, platform_id) if config else None
        if group is None:
            found: list[Policy] = [
                ModerationPolicy(
                    Detector(detector.policy, detector.model, *memory), Ladder(Mode.ENFORCE)
                ),
                WelcomePolicy(),
            ]
        else:
            moderation = group.policies.moderation.model_copy(update={"mode": "enforce"})
            settings = group.policies.model_copy(update={"moderation": moderation})
            found = policies_of(
                settings,
                _memory(memories, group.community),
                lambda p: _model(p, base, models),
            )
        made[(platform, platform_id)] = found
        return found

    return policies_for


def _configured_console(config: Config, connector: str, group_id: str) -> str | None:
    found = next((g for g in config.groups if g.connector == connector and g.id == group_id), None)
    return found.name if found else None


def file_policies(
    config: Config, platform: str, platform_id: str, community: str | None
) -> PolicySettings | None:
    """A stored group's policies in the file: its [[groups]] entry's, else (a group in the
    community a connector of its platform gives the groups it meets) that community's; None
    where the file says nothing of it."""
    found = configured_group(config, platform, platform_id)
    if found is not None:
        return found.policies
    for settings in config.connectors.values():
        adopting = getattr(settings, "community", None)
        if adopting and adopting == community and PLATFORMS[settings.type] == platform:
            return config.community_policies(adopting)
    return None


def configured_group(config: Config, platform: str, platform_id: str) -> GroupSettings | None:
    """The configured group for a stored one (imports store the ids live connectors see)."""
    for group in config.groups:
        settings = config.connectors.get(group.connector)
        if settings and PLATFORMS[settings.type] == platform and group.id == platform_id:
            return group
    return None
