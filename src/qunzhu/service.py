"""qunzhu live: the policies and connectors a `qunzhu.toml` describes, and running them.

`setups` turns the checked configuration into each group's policy objects (one detector
memory per community, so an ad posted in three of its groups is seen as one campaign);
`connectors` makes the connector objects with their secrets; `serve` runs them with the engine
until asked to stop, then stops the connectors first, processes what they delivered and
executes what is due, so nothing received is left unjudged.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from qunzhu.config import Config, ConfigError, GroupSettings, PolicySettings
from qunzhu.connectors import Connector
from qunzhu.engine.policies import (
    AdmissionPolicy,
    Answer,
    AutoReplyPolicy,
    ModerationPolicy,
    NicknamePolicy,
    Policy,
    WelcomePolicy,
)
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.i18n import tr
from qunzhu.moderation.behaviour import Behaviour, TrustBook
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import DEFAULT_LOCKED, Detector
from qunzhu.moderation.engine import Policy as Rules
from qunzhu.moderation.model import ContentModel

log = logging.getLogger(__name__)


def setups(config: Config, base: Path = Path(".")) -> Setups:
    """Every configured group's policies; groups nobody configured are stored, not policed.
    Relative model paths are read from `base` (the configuration file's folder)."""
    memories: dict[str | None, tuple[Behaviour, TrustBook]] = {}
    models: dict[Path, ContentModel] = {}
    groups = {}
    for group in config.groups:
        memory = memories.setdefault(group.community, (Behaviour(), TrustBook()))
        policies = policies_of(group.policies, memory, lambda p: _model(p, base, models))
        groups[(group.connector, group.id)] = GroupSetup(policies, group.admin_chat)
    return Setups(groups)


def policies_of(
    settings: PolicySettings,
    memory: tuple[Behaviour, TrustBook] | None = None,
    model: Callable[[Path], ContentModel] | None = None,
) -> list[Policy]:
    """The policy objects for one group's settings, in the order they look at an event."""
    out: list[Policy] = []
    m = settings.moderation
    if m.enabled:
        behaviour, trust = memory or (Behaviour(), TrustBook())
        rules = Rules(
            keywords={
                word: entry if isinstance(entry, float) else entry.model_dump()
                for word, entry in m.keywords.items()
            }
            if m.keywords is not None
            else None,
            allow_domains=m.allow_domains,
            deny_domains=m.deny_domains,
            locked=DEFAULT_LOCKED if m.locked is None else m.locked,
            probation_h=m.probation_h,
        )
        content = model(m.model) if model and m.model else None
        detector = Detector(rules, content, behaviour, trust)
        out.append(ModerationPolicy(detector, Ladder(Mode(m.mode)), warning=m.warning))
    if (w := settings.welcome) and w.enabled:
        out.append(WelcomePolicy(w.template, w.rules, w.batch_s))
    if (a := settings.admission) and a.enabled:
        out.append(
            AdmissionPolicy(
                tuple(a.answers), tuple(a.reject_words), tuple(a.approve_tags), tuple(a.reject_tags)
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
    from qunzhu.connectors.console import ConsoleConnector
    from qunzhu.connectors.onebot import OneBotConnector
    from qunzhu.connectors.telegram import TelegramConnector

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
) -> None:
    """Run the connectors and the engine until `stop` is set (Ctrl-C sets it) or every
    connector has ended (the console's /quit); then stop the connectors, process what they
    delivered and execute what is due. Actions held back on purpose (a welcome waiting for
    more newcomers) stay queued in the store and go out at the next start."""
    stop = stop or asyncio.Event()
    gc.collect()
    gc.freeze()  # the models are loaded: the collector need not walk them again (bench/engine)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # not on Windows
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    sites = await _webhooks(runtime, config)
    tasks = [
        asyncio.create_task(connector.run(runtime.receive), name=name)
        for name, connector in runtime.connectors.items()
    ]
    engine_stop = asyncio.Event()
    engine_task = asyncio.create_task(runtime.serve(engine_stop))
    watcher = asyncio.create_task(_when_all_end(tasks, stop))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({engine_task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*tasks, watcher, stopping):
            task.cancel()
        await asyncio.gather(*tasks, watcher, stopping, return_exceptions=True)
        for site in sites:
            await site.cleanup()
        engine_stop.set()  # the connectors are quiet: judge what they delivered, send what is due
        await engine_task
        with contextlib.suppress(NotImplementedError):
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


async def _when_all_end(tasks: list[asyncio.Task[Any]], stop: asyncio.Event) -> None:
    for task in asyncio.as_completed(tasks):
        try:
            await task
        except asyncio.CancelledError:
            raise
        except Exception:  # a connector that gave up: say so, keep the others running
            log.exception("connector stopped")
    stop.set()


async def _webhooks(runtime: Runtime, config: Config) -> list[web.AppRunner]:
    """A web server for each Telegram connector in webhook mode, and the webhook set."""
    runners = []
    for name, settings in config.connectors.items():
        if settings.type != "telegram" or settings.mode != "webhook":
            continue
        connector: Any = runtime.connectors[name]
        host, _, port = settings.listen.rpartition(":")
        runner = web.AppRunner(connector.webhook_app(runtime.receive))
        await runner.setup()
        await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
        await connector.set_webhook(settings.webhook_url)
        runners.append(runner)
    return runners


def describe(config: Config) -> list[str]:
    """One line per group: where it is and which policies run there (for `config check`)."""
    lines = []
    for group in config.groups:
        names = [p.name for p in policies_of(group.policies)]
        mode = group.policies.moderation.mode if group.policies.moderation.enabled else None
        shown = [f"{n} ({mode})" if n == "moderation" else n for n in names]
        lines.append(
            f"{group.name} [{group.connector}:{group.id}]: "
            + (", ".join(shown) if shown else tr("no policies"))
        )
    return lines


PLATFORMS = {"telegram": "telegram", "onebot": "qq", "console": "console"}  # connector type


def replay_policies(
    config: Config | None, base: Path, detector: Detector
) -> Callable[[str, str], list[Policy]]:
    """Policies for each stored group in a replay: its configured ones, with moderation acting
    as in `enforce` (a replay is there to show what the rules would do); groups the file does
    not name, or every group without a file, get moderation (`detector`'s rules and model)
    and a welcome."""
    memory = (Behaviour(), TrustBook())
    memories: dict[str | None, tuple[Behaviour, TrustBook]] = {}
    models: dict[Path, ContentModel] = {}
    made: dict[tuple[str, str], list[Policy]] = {}

    def policies_for(platform: str, platform_id: str) -> list[Policy]:
        if (platform, platform_id) in made:
            return made[(platform, platform_id)]
        group = _configured(config, platform, platform_id) if config else None
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
                memories.setdefault(group.community, (Behaviour(), TrustBook())),
                lambda p: _model(p, base, models),
            )
        made[(platform, platform_id)] = found
        return found

    return policies_for


def _configured_console(config: Config, connector: str, group_id: str) -> str | None:
    found = next((g for g in config.groups if g.connector == connector and g.id == group_id), None)
    return found.name if found else None


def _configured(config: Config, platform: str, platform_id: str) -> GroupSettings | None:
    """The configured group for a stored one (imports store the ids live connectors see)."""
    for group in config.groups:
        settings = config.connectors.get(group.connector)
        if settings and PLATFORMS[settings.type] == platform and group.id == platform_id:
            return group
    return None
