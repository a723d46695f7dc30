"""Live platforms: each module turns one protocol into `LiveEvent`s and executes `Action`s.

A connector is an object with:
- `name: str` (its name in qunzhu.toml) and `capabilities: frozenset[ActionKind]`: what it can
  do; anything else becomes a task for a human;
- `async def run(self, emit)`: receive updates until cancelled, calling `await emit(event)` for
  each `LiveEvent`; reconnect by itself after a dropped connection;
- `async def execute(self, action)`: do one `Action`; raise `RateLimited` or `ActionFailed`;
  return the platform's id of the message it sent (SEND, WARN) where the platform says, so the
  engine can take its own message down later (`Action.expire_s`), else None;
- where the platform lists a group's members, `async def roster(self, group_id)`: the
  `RosterEntry`s of everyone in it now (`Roster`); raise `ActionFailed` when it cannot say;
- where members can write to the bot in private, an attribute `appeals: Appeals | None`, which
  the engine sets: each private message is handed to it as an `Appeal`, and the line it
  returns is the answer to send the member (None: no answer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from qunzhu.model.live import Action, ActionKind, Appeal, LiveEvent, RosterEntry

Emit = Callable[[LiveEvent], Awaitable[None]]
Appeals = Callable[[Appeal], Awaitable[str | None]]

# What a member who writes to the bot only to start it (Telegram's /start) is told, in the
# words `tr` looks up: what the bot is, and that a mistake can be told here.
APPEAL_HOW = (
    "This bot keeps the group free of ads. If it removed your message, muted or removed you "
    "and that was a mistake, write here what happened: the group's admins will see it."
)

# What a bot with admin rights can do in a group on Telegram and QQ alike; telling the owner is
# the engine's business (a message to the admin chat, or a task).
GROUP_ADMIN = frozenset(ActionKind) - {ActionKind.NOTIFY_OWNER}


@runtime_checkable
class Roster(Protocol):
    async def roster(self, group_id: str) -> list[RosterEntry]: ...


class Connector(Protocol):
    name: str
    capabilities: frozenset[ActionKind]

    async def run(self, emit: Emit) -> None: ...

    async def execute(self, action: Action) -> str | None: ...
