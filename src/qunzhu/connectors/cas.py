"""CAS (Combot Anti-Spam, cas.chat): a shared list of Telegram accounts banned as spammers in
the groups that use it, asked by user id. Telegram groups bots of every language meet, Chinese
ones included, are raided by the same crypto and "earn from home" accounts; one the list
already names need not post its first ad before it is removed.

Off unless the operator turns it on (`cas = true` on a Telegram connector): the lookup tells
cas.chat which accounts are in the operator's groups. It fails open: no answer, a refusal or
an answer that is not the API's JSON (CAS sits behind a proxy that some regions get an HTML
page from) lists nobody, and the connector asks again a minute later. Members are asked once a
day each (`connectors/profiles.py`). The API is free; an operator using it commercially shows
"Powered by CAS" (the console's name for the check says it).
"""

from __future__ import annotations

import logging
from datetime import datetime
from importlib import metadata

import httpx

from qunzhu.i18n import tr

log = logging.getLogger(__name__)

CAS_API = "https://api.cas.chat"
CAS_TIMEOUT_S = 5.0  # a lookup holds up the update it comes with
CAS_TTL_S = 86_400.0  # a member's listing read once is used this long


class Cas:
    """`await cas(user_id)`: what the list says of the account ("" where it does not list
    them), None where it gave no usable answer."""

    def __init__(self, api: str = CAS_API, transport: httpx.AsyncBaseTransport | None = None):
        self._client = httpx.AsyncClient(
            base_url=api.rstrip("/"),
            timeout=CAS_TIMEOUT_S,
            headers={"User-Agent": f"qunzhu/{metadata.version('qunzhu')}"},
            transport=transport,
        )
        self._failing = False  # said in the log once until it answers again

    async def __call__(self, user_id: object) -> str | None:
        try:
            response = await self._client.get("/check", params={"user_id": str(user_id)})
            data = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            return self._failed(type(exc).__name__)
        if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
            return self._failed(f"HTTP {response.status_code}")
        self._failing = False
        result = data.get("result")
        if not data["ok"] or not isinstance(result, dict):
            return ""  # "Record not found."
        return _listing(result)

    def _failed(self, why: str) -> None:
        if not self._failing:
            self._failing = True
            log.warning(tr("CAS gave no answer ({why}); nobody counts as listed", why=why))
        return None

    async def close(self) -> None:
        await self._client.aclose()


def _listing(result: dict[str, object]) -> str:
    """The listing in a few words: how many offenses and since when."""
    offenses = result.get("offenses")
    count = offenses if isinstance(offenses, int) and offenses > 0 else 1
    added = result.get("time_added")
    since = ""
    if isinstance(added, str):
        try:
            since = datetime.fromisoformat(added.replace("Z", "+00:00")).date().isoformat()
        except ValueError:
            since = ""
    if since:
        return tr("{n} offense(s), listed since {day}", n=count, day=since)
    return tr("{n} offense(s)", n=count)
