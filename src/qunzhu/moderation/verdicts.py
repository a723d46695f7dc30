"""What every layer returns and what the detector decides: explanations as data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

HAM, REVIEW, SPAM = "ham", "review", "spam"
SEVERITY = (HAM, REVIEW, SPAM)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    verdict: str
    score: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: str
    score: float
    checks: tuple[Check, ...]
    normalized: str
    # the message as its sender wrote it: what the admins are shown, so they know it in the
    # group ("加Ⅴ：ａｂｃ１２３" rather than "加v abc123"); "" where a decision has no message
    raw: str = ""

    @property
    def action(self) -> str | None:
        """An action a policy entry asked for by name (a keyword set to "ban"), if any."""
        return next((c.details["action"] for c in self.checks if "action" in c.details), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        """A decision `as_dict` gave (kept in a held question, `model.live.Opinion`)."""
        checks = tuple(Check(**c) for c in data["checks"])
        return cls(data["verdict"], data["score"], checks, data["normalized"], data.get("raw", ""))

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "normalized": self.normalized,
            "raw": self.raw,
            "checks": [asdict(c) for c in self.checks],
        }
