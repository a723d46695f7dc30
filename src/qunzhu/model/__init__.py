"""Plain records and value types. Depends on nothing else in qunzhu."""

from qunzhu.model.keys import content_key
from qunzhu.model.records import (
    CARRIED,
    Community,
    Group,
    GroupKind,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
    Record,
    Role,
)

__all__ = [
    "CARRIED",
    "Community",
    "Group",
    "GroupKind",
    "JoinMethod",
    "MembershipAction",
    "MembershipEvent",
    "Message",
    "MessageKind",
    "Person",
    "Platform",
    "Record",
    "Role",
    "content_key",
]
