"""CAS lookups against a stand-in for its API (httpx's mock transport): what a listing says,
and that every kind of failure lists nobody."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from qunzhu.connectors.cas import Cas

LISTED = {"ok": True, "result": {"offenses": 3, "time_added": "2024-05-01T08:30:00.000Z"}}
UNLISTED = {"ok": False, "description": "Record not found."}


def ask(handler, user_id: object = 42) -> str | None:  # type: ignore[no-untyped-def]
    async def main() -> str | None:
        cas = Cas("https://cas.test/", transport=httpx.MockTransport(handler))
        try:
            return await cas(user_id)
        finally:
            await cas.close()

    return asyncio.run(main())


def test_a_listing_says_how_many_offenses_and_since_when() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=LISTED)

    assert ask(answer, 42) == "3 offense(s), listed since 2024-05-01"
    (request,) = seen
    assert request.url == "https://cas.test/check?user_id=42"
    assert request.headers["User-Agent"].startswith("qunzhu/")  # not the library's default


def test_an_account_not_listed_is_an_empty_listing() -> None:
    assert ask(lambda r: httpx.Response(200, json=UNLISTED)) == ""
    odd = {"ok": True, "result": {"offenses": "many"}}  # a field we cannot read: still listed
    assert ask(lambda r: httpx.Response(200, json=odd)) == "1 offense(s)"


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: httpx.Response(403, text="<html>Attention Required! | Cloudflare</html>"),
        lambda r: httpx.Response(200, text="<html>a proxy's page</html>"),
        lambda r: httpx.Response(200, json=["not", "the", "api"]),
        lambda r: httpx.Response(502, json=UNLISTED),
    ],
)
def test_an_answer_that_is_not_the_apis_lists_nobody(answer) -> None:  # type: ignore[no-untyped-def]
    assert ask(answer) is None


def test_no_answer_lists_nobody_and_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    async def main() -> list[str | None]:
        cas = Cas("https://cas.test", transport=httpx.MockTransport(down))
        try:
            return [await cas(1), await cas(2)]
        finally:
            await cas.close()

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(main()) == [None, None]
    assert sum("CAS gave no answer" in r.getMessage() for r in caplog.records) == 1
