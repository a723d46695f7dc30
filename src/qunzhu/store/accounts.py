"""The console's users: who may log in, what they may see and change, and what they did.

Passwords are kept as argon2id hashes (argon2-cffi's defaults), API tokens as their SHA-256
(a token is random, 256 bits: a slow hash adds nothing). Every check of "may this user see
that" goes through `User.sees` and `visible_groups`, so community isolation has one definition.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, func, select, update

from qunzhu.i18n import tr
from qunzhu.store import schema as t
from qunzhu.store.ingest import now_ms

ROLES = ("admin", "operator", "viewer")
PASSWORD_MIN = 8
_hasher = PasswordHasher()


@cache
def _nobody() -> str:
    """Verified against when the name is unknown, so a wrong name costs what a wrong password
    does. Made at first use: hashing costs about 0.2 s, which every command paid at import."""
    return _hasher.hash(secrets.token_hex(16))


class AccountError(Exception):
    """A mistake in what was asked (unknown role, short password...): one line for the user."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: str
    session_version: int
    communities: frozenset[int]  # granted (admins see every community, granted or not)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def may_change(self) -> bool:
        return self.role in ("admin", "operator")

    def sees(self, community_id: int | None) -> bool:
        """Groups outside any community are an admin's only."""
        return self.is_admin or (community_id is not None and community_id in self.communities)


def add_user(
    conn: Connection, name: str, password: str, role: str, communities: Iterable[str] = ()
) -> int:
    name = name.strip()
    if not name or len(name) > 100:
        raise AccountError(tr("a user name has 1 to 100 characters"))
    if role not in ROLES:
        raise AccountError(tr("role must be one of {roles}", roles=", ".join(ROLES)))
    _check_password(password)
    if conn.execute(select(t.users.c.id).where(t.users.c.name == name)).first():
        raise AccountError(tr("user {name!r} exists already", name=name))
    granted = _community_ids(conn, communities)
    user_id = conn.execute(
        t.users.insert().values(
            name=name,
            password_hash=_hasher.hash(password),
            role=role,
            session_version=1,
            created_at=now_ms(),
        )
    ).inserted_primary_key[0]
    for community_id in granted:
        conn.execute(t.user_communities.insert().values(user_id=user_id, community_id=community_id))
    return int(user_id)


def set_password(conn: Connection, name: str, password: str) -> None:
    """A new password ends every session the user had."""
    _check_password(password)
    changed = conn.execute(
        update(t.users)
        .where(t.users.c.name == name)
        .values(
            password_hash=_hasher.hash(password),
            session_version=t.users.c.session_version + 1,
        )
    ).rowcount
    if not changed:
        raise AccountError(tr("no user {name!r}", name=name))


def list_users(conn: Connection) -> list[tuple[str, str, list[str]]]:
    """(name, role, granted community names) for every user."""
    granted: dict[int, list[str]] = {}
    for user_id, community in conn.execute(
        select(t.user_communities.c.user_id, t.communities.c.name)
        .join(t.communities, t.communities.c.id == t.user_communities.c.community_id)
        .order_by(t.communities.c.name)
    ):
        granted.setdefault(user_id, []).append(community)
    rows = conn.execute(
        select(t.users.c.id, t.users.c.name, t.users.c.role).order_by(t.users.c.name)
    )
    return [(name, role, granted.get(user_id, [])) for user_id, name, role in rows]


def authenticate(conn: Connection, name: str, password: str) -> User | None:
    row = conn.execute(
        select(t.users.c.id, t.users.c.password_hash).where(t.users.c.name == name)
    ).first()
    try:
        _hasher.verify(row.password_hash if row else _nobody(), password)
    except (VerificationError, InvalidHashError):
        return None
    return load_user(conn, row.id) if row else None


def load_user(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(select(t.users).where(t.users.c.id == user_id)).first()
    if row is None:
        return None
    granted = conn.execute(
        select(t.user_communities.c.community_id).where(t.user_communities.c.user_id == user_id)
    ).scalars()
    return User(row.id, row.name, row.role, row.session_version, frozenset(granted))


def new_token(conn: Connection, user_id: int, label: str = "") -> str:
    """A new personal API token; shown once, only its hash is kept."""
    token = "qz_" + secrets.token_urlsafe(32)
    conn.execute(
        t.api_tokens.insert().values(
            user_id=user_id, token_hash=_digest(token), label=label[:100], created_at=now_ms()
        )
    )
    return token


def user_by_token(conn: Connection, token: str) -> User | None:
    row = conn.execute(
        select(t.api_tokens.c.id, t.api_tokens.c.user_id).where(
            t.api_tokens.c.token_hash == _digest(token)
        )
    ).first()
    if row is None:
        return None
    conn.execute(
        update(t.api_tokens).where(t.api_tokens.c.id == row.id).values(last_used_at=now_ms())
    )
    return load_user(conn, row.user_id)


def revoke_tokens(conn: Connection, user_id: int) -> int:
    return conn.execute(delete(t.api_tokens).where(t.api_tokens.c.user_id == user_id)).rowcount


def audit(conn: Connection, user: User, action: str, target: str = "", **details: object) -> None:
    """Write down a change: who, what, on what, when."""
    conn.execute(
        t.audit_log.insert().values(
            user_id=user.id,
            user_name=user.name,
            at=now_ms(),
            action=action,
            target=target[:200],
            details=orjson.dumps(details, default=str).decode(),
        )
    )


def visible_groups(conn: Connection, user: User) -> list[int]:
    """Ids of the groups the user may see, by community."""
    query = select(t.groups.c.id).order_by(t.groups.c.id)
    if not user.is_admin:
        query = query.where(t.groups.c.community_id.in_(sorted(user.communities)))
    return list(conn.execute(query).scalars())


def users_count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(t.users)).scalar_one()


def _check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError(tr("a password needs at least {n} characters", n=PASSWORD_MIN))


def _community_ids(conn: Connection, names: Iterable[str]) -> list[int]:
    found = []
    for name in names:
        community_id = conn.execute(
            select(t.communities.c.id).where(t.communities.c.name == name)
        ).scalar()
        if community_id is None:
            raise AccountError(tr("no community named {name!r}", name=name))
        found.append(community_id)
    return found


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
