"""A community's content model, learnt from the console's answers and from the community's
ordinary messages, so the detector gets better at the ads its groups see without anyone
running `qunzhu moderation train`.

People label what the detector flagged, so their answers are mostly spam. A model trained on
those alone has never seen ordinary chat and flags all of it (tg-spam's users found the same
when they started with spam samples only). The community's own undisputed messages fill the
other side: the newest ORDINARY_MAX text messages of its groups in the last ORDINARY_DAYS that
no moderation decision is about, but for copies of the ads people confirmed (alike, or giving
one of their contacts: a campaign's copies posted before anyone answered would otherwise be
learnt as normal and as spam at once). Any other ad that slipped through unnoticed is learnt
as normal, which errs towards letting a message through, never towards removing one.

Training runs in a process of its own (`train_community`), so a live engine keeps its pace.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import multiprocessing
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

from qunzhu.i18n import tr
from qunzhu.moderation import feedback
from qunzhu.moderation.behaviour import SpamBank
from qunzhu.moderation.contacts import extract
from qunzhu.moderation.model import COMBINE_FROM, ContentModel
from qunzhu.moderation.normalize import normalize
from qunzhu.moderation.verdicts import SPAM
from qunzhu.store import schema as t

# confirmed spam texts a community needs before it gets a model of its own: enough to choose
# its lines on held-out messages (model.COMBINE_FROM); 30 gave a model whose fixed lines no
# message reached, worse than none (bench/RESULTS.md)
LEARN_FROM = COMBINE_FROM
ORDINARY_MIN = 200  # ... and normal examples (answers and ordinary messages together)
ORDINARY_MAX = 20_000  # the newest ordinary messages taken as normal examples
ORDINARY_DAYS = 90
REFRESH_S = 86_400  # a model this old learns the newer ordinary messages, answers or not
POLICY = "moderation"

log = logging.getLogger(__name__)
State = tuple[tuple[int, int | None], str | None]  # the answers' stamp and the base's name


@dataclass(frozen=True, slots=True)
class Examples:
    texts: list[str]
    labels: list[int]  # 1 spam, 0 normal
    spam: int  # answers that said spam
    normal: int  # answers that said not spam
    ordinary: int  # undisputed messages taken as normal
    copies: int = 0  # undisputed messages left out as copies of confirmed ads

    @property
    def enough(self) -> bool:
        return self.spam >= LEARN_FROM and self.normal + self.ordinary >= ORDINARY_MIN


@dataclass(frozen=True, slots=True)
class Learnt:
    """What one training did, as the sidecar file next to the model keeps it: the label
    stamp it was trained at tells a restarted engine whether the model is still current."""

    community: str | None
    labels: int  # the community's spam and not-spam answers when it was trained
    newest: int | None  # the newest answer's time then
    spam: int
    normal: int
    ordinary: int
    trained: bool  # False: too few examples (and any earlier model was removed)
    spam_from: float | None
    seconds: float
    base: str | None = None  # the model it was trained on top of, as `base_of` names it
    at: int = 0  # when (ms): a day later it learns the newer ordinary messages too
    copies: int = 0  # ordinary messages left out as copies of confirmed ads


def base_of(path: Path | None) -> str | None:
    """The base model's file and when it was written: an operator training the shared model
    again, or a group naming another, makes the communities on it learn again."""
    if path is None:
        return None
    try:
        return f"{path}@{path.stat().st_mtime_ns}"
    except OSError:
        return f"{path}@missing"


def community_groups(conn: Connection, community: str | None) -> list[int]:
    g, c = t.groups, t.communities
    query = select(g.c.id).select_from(g.outerjoin(c, c.c.id == g.c.community_id))
    query = query.where(c.c.name.is_(None) if community is None else c.c.name == community)
    return list(conn.execute(query.order_by(g.c.id)).scalars())


def examples(conn: Connection, group_ids: list[int], now_ms: int) -> Examples:
    """The answers about the groups' messages and their undisputed ordinary messages."""
    labels = feedback.labels_since(conn, None, group_ids)
    answers = feedback.labelled(labels)
    d, m = t.decisions, t.messages
    decided = {
        (row.group_id, row.record_id)
        for row in conn.execute(
            select(d.c.group_id, d.c.record_id).where(
                d.c.policy == POLICY, d.c.group_id.in_(group_ids), d.c.record_id.is_not(None)
            )
        )
    }
    since = now_ms - ORDINARY_DAYS * 86_400_000
    rows = conn.execute(
        select(m.c.group_id, m.c.platform_id, m.c.text)
        .where(m.c.group_id.in_(group_ids), m.c.sent_at >= since, m.c.kind == "text")
        .order_by(m.c.sent_at.desc(), m.c.id.desc())
        .limit(ORDINARY_MAX + len(decided))
    )
    undisputed = [
        text
        for group_id, platform_id, text in rows
        if text and text.strip() and (group_id, platform_id) not in decided
    ][:ORDINARY_MAX]
    confirmed = feedback.bank_of(labels)
    ordinary = [text for text in undisputed if not _copy(confirmed, text)]
    spam = sum(label for label, _ in answers)
    return Examples(
        texts=[text for _, text in answers] + ordinary,
        labels=[label for label, _ in answers] + [0] * len(ordinary),
        spam=spam,
        normal=len(answers) - spam,
        ordinary=len(ordinary),
        copies=len(undisputed) - len(ordinary),
    )


def _copy(bank: SpamBank, text: str) -> bool:
    """Whether an undisputed message is alike to a confirmed ad or gives one's contacts."""
    n = normalize(text)
    return bank.match(n).verdict == SPAM or bank.known_contacts(n, extract(n)) is not None


def file_name(community: str | None) -> str:
    """A community's name as a file name (the model of groups in no community: "_")."""
    return re.sub(r"[^\w-]+", "_", (community or "").strip()) or "_"


def sidecar(model: Path) -> Path:
    return model.with_name(model.name + ".json")


def read_learnt(model: Path) -> Learnt | None:
    """What the model file beside it was trained on; None when either is missing or odd."""
    try:
        data = json.loads(sidecar(model).read_text(encoding="utf-8"))
        return Learnt(**data) if model.exists() else None
    except (OSError, ValueError, TypeError):
        return None


def train_community(
    url: str, community: str | None, base: Path | None, target: Path, now_ms: int
) -> Learnt:
    """Train the community's model on top of `base` (if any) and save it at `target` with its
    sidecar; with too few examples, remove what is there instead (the answers it learnt from
    may have been forgotten). Meant for a process of its own: it opens the store itself."""
    from qunzhu.store import db

    started = time.perf_counter()
    engine = db.open_store(url)
    try:
        with engine.connect() as conn:
            groups = community_groups(conn, community)
            count, newest = feedback.stamp(conn, groups)
            found = examples(conn, groups, now_ms)
        model = None
        if found.enough:
            model = ContentModel.train(
                found.texts, found.labels, base=ContentModel.load(base) if base else None
            )
            model.save(target)
        else:
            target.unlink(missing_ok=True)
        learnt = Learnt(
            community=community,
            labels=count,
            newest=newest,
            spam=found.spam,
            normal=found.normal,
            ordinary=found.ordinary,
            copies=found.copies,
            trained=model is not None,
            spam_from=None if model is None else model.spam_from,
            seconds=round(time.perf_counter() - started, 3),
            base=base_of(base),
            at=now_ms,
        )
        with engine.begin() as conn:
            _show(conn, learnt, now_ms)
    finally:
        engine.dispose()
    if model is None:
        sidecar(target).unlink(missing_ok=True)
    else:
        partial = sidecar(target).with_name(sidecar(target).name + ".partial")
        partial.write_text(json.dumps(asdict(learnt)), encoding="utf-8")
        partial.replace(sidecar(target))
    return learnt


def _show(conn: Connection, learnt: Learnt, now_ms: int) -> None:
    """What the community's model learnt from, for the console (none: no row)."""
    lm, key = t.learnt_models, learnt.community or ""
    conn.execute(lm.delete().where(lm.c.community == key))
    if learnt.trained:
        conn.execute(
            lm.insert().values(
                community=key,
                trained_at=now_ms,
                spam=learnt.spam,
                normal=learnt.normal,
                ordinary=learnt.ordinary,
                spam_from=learnt.spam_from,
                seconds=learnt.seconds,
            )
        )


def _stamps(engine: Engine) -> dict[str | None, tuple[int, int | None]]:
    """`feedback.stamp` of every community at once (one query however many communities the
    engine polls every few seconds)."""
    ml, d, g, c = t.moderation_labels, t.decisions, t.groups, t.communities
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.c.name, func.count(), func.max(ml.c.at))
            .select_from(
                ml.join(d, d.c.id == ml.c.decision_id)
                .join(g, g.c.id == d.c.group_id)
                .outerjoin(c, c.c.id == g.c.community_id)
            )
            .where(ml.c.label.in_(feedback.TEACHING))
            .group_by(c.c.name)
        ).all()
    return {name: (int(count), newest) for name, count, newest in rows}


class Learner:
    """Keeps each learning community's model current while the engine runs: trained again
    when people's answers about its groups change, at most once every EVERY_S, and at once
    when answers went away (a member was forgotten: the model must not keep what it learnt
    from them) or the base model under it changed; a trained model also every REFRESH_S, for
    the community's newer ordinary messages. The setups ask `model_for` while they
    are built, which also says which communities learn and on top of which base model."""

    EVERY_S = 3600.0

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.bases: dict[str | None, Path | None] = {}  # the communities that learn
        self._models: dict[str | None, ContentModel] = {}
        self._learnt: dict[str | None, Learnt] = {}
        self._tried: dict[str | None, float] = {}
        self._failed: dict[str | None, State] = {}
        self._running: dict[str | None, tuple[State, asyncio.Future[Learnt]]] = {}
        self._pool: ProcessPoolExecutor | None = None

    def path(self, community: str | None) -> Path:
        return self.folder / f"{file_name(community)}.model"

    def model_for(self, community: str | None, base: Path | None) -> ContentModel | None:
        """The community's learnt model, if there is one yet (read from disk the first time:
        a restart keeps what was learnt); notes that the community learns on `base`."""
        self.bases.setdefault(community, base)
        if community not in self._learnt and community not in self._tried:
            self._tried[community] = float("-inf")  # read once
            path = self.path(community)
            learnt = read_learnt(path)
            if learnt is not None and learnt.community == community and learnt.trained:
                try:
                    self._models[community] = ContentModel.load(path)
                    self._learnt[community] = learnt
                except (ValueError, OSError, EOFError):
                    log.warning(
                        tr("cannot read the learnt model {path}: it is trained again", path=path)
                    )
        return self._models.get(community)

    async def poll(self, engine: Engine, now_s: float) -> list[str | None]:
        """Start training the communities whose answers changed (in the background: the
        caller goes on); the communities whose model changed since the last poll."""
        changed = self._finished()
        stamps = await asyncio.to_thread(_stamps, engine) if self.bases else {}
        for community, base in list(self.bases.items()):
            if community in self._running:
                continue
            answers = stamps.get(community, (0, None))
            state = (answers, base_of(base))
            before = self._learnt.get(community)
            current = before is not None and ((before.labels, before.newest), before.base) == state
            stale = before is not None and before.trained and now_s - before.at / 1000 >= REFRESH_S
            if current and not stale:
                continue
            if (before is None and answers[0] < LEARN_FROM) or self._failed.get(community) == state:
                continue  # too few answers to hold enough spam; or this very state failed
            # a forgotten member's answers, or another base under it: at once, not in an hour
            urgent = before is not None and (answers[0] < before.labels or before.base != state[1])
            if not urgent and now_s - self._tried.get(community, -math.inf) < self.EVERY_S:
                continue
            self._tried[community] = now_s
            self._running[community] = (state, self._train(engine, community, base, now_s))
        return changed

    async def settle(self) -> list[str | None]:
        """Wait for the trainings under way; the communities whose model changed."""
        await asyncio.gather(*(f for _, f in self._running.values()), return_exceptions=True)
        return self._finished()

    def _finished(self) -> list[str | None]:
        changed = []
        for community, (state, future) in list(self._running.items()):
            if not future.done():
                continue
            del self._running[community]
            try:
                learnt = future.result()
            except Exception:
                log.exception(
                    tr("cannot train the model of community {community!r}", community=community)
                )
                self._failed[community] = state
                continue
            self._learnt[community] = learnt
            had = self._models.pop(community, None) is not None
            if learnt.trained:
                self._models[community] = ContentModel.load(self.path(community))
            if learnt.trained or had:
                changed.append(community)
                log.info(
                    tr(
                        "community {community!r}: {what} ({spam} spam, {normal} not spam, "
                        "{ordinary} ordinary messages, {copies} copies of confirmed ads left out, "
                        "{seconds:.1f} s)",
                        community=community,
                        what=tr("model trained") if learnt.trained else tr("model removed"),
                        spam=learnt.spam,
                        normal=learnt.normal,
                        ordinary=learnt.ordinary,
                        copies=learnt.copies,
                        seconds=learnt.seconds,
                    )
                )
        return changed

    def _train(
        self, engine: Engine, community: str | None, base: Path | None, now_s: float
    ) -> asyncio.Future[Learnt]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        url = engine.url.render_as_string(hide_password=False)
        target, now_ms = self.path(community), int(now_s * 1000)
        return asyncio.get_running_loop().run_in_executor(
            self._pool, train_community, url, community, base, target, now_ms
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
