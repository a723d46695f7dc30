"""What connectors read of members (bios, reactions) is cached, and dropped when forgotten."""

from __future__ import annotations

import asyncio

from qunzhu.connectors.profiles import Bios, Reactions


def test_a_forgotten_members_bio_is_read_again_and_their_reactions_count_anew() -> None:
    asked: list[object] = []

    async def read(member: object) -> str:
        asked.append(member)
        return f"{member} 的简介"

    async def bios_read_twice() -> None:
        bios = Bios(read)
        for member in (101, 202, 101):
            await bios(member)
        assert asked == [101, 202]  # cached
        bios.forget({"101"}.__contains__)  # ids as the store spells them: text
        assert await bios(101) == "101 的简介" and await bios(202) == "202 的简介"

    asyncio.run(bios_read_twice())
    assert asked == [101, 202, 101]

    reactions = Reactions()
    assert reactions.due(("g1", 101)) and reactions.due(("g1", 202))
    assert not reactions.due(("g1", 101))  # once a day
    reactions.forget({"101"}.__contains__)
    assert reactions.due(("g1", 101)) and not reactions.due(("g1", 202))
