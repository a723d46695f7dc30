"""The members pages and API: search, filters, paging, history, tags, and community isolation."""

from __future__ import annotations

import re
import time

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from qunzhu.store import accounts, tags
from qunzhu.store import schema as t
from tests.web.conftest import PASSWORD, T0, World, csrf, login

MS0 = int(T0.timestamp() * 1000)


def ids(world: World) -> dict[str, int]:
    """Member ids by platform id (the order ingest gives ids in is its own business)."""
    with world.engine.connect() as conn:
        return dict(conn.execute(select(t.members.c.external_id, t.members.c.id)).all())


def names(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text[:300]
    return [m["platform_id"] for m in response.json()["members"]]


def shape(world: World) -> dict[str, int]:
    """Distinct counts, roles, a past name and a tag, so levels and filters are predictable."""
    m = ids(world)
    ms = t.memberships
    with world.engine.begin() as conn:
        for who, count, role in [
            ("run0", 100, "owner"),
            ("run1", 0, "member"),
            ("run2", 5, "admin"),
        ]:
            conn.execute(
                update(ms).where(ms.c.member_id == m[who]).values(message_count=count, role=role)
            )
        conn.execute(update(ms).where(ms.c.member_id == m["read0"]).values(role="vice_owner"))
        conn.execute(
            update(t.members).where(t.members.c.id == m["run1"]).values(display_name="阿跑")
        )
        conn.execute(
            t.member_names.insert().values(
                member_id=m["run2"], name="老跑友", first_seen=MS0, last_seen=MS0
            )
        )
        tags.add(conn, m["run1"], ["VIP"])
        tags.add(conn, m["read1"], ["VIP"])
    return m


def audit_rows(world: World) -> list[tuple[str, str, dict[str, list[str]]]]:
    a = t.audit_log
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(a.c.user_name, a.c.target, a.c.details)
            .where(a.c.action == "member.tags")
            .order_by(a.c.id)
        ).all()
    return [(user, target, orjson.loads(details)) for user, target, details in rows]


def tags_of(world: World, member_id: int) -> list[str]:
    with world.engine.connect() as conn:
        return tags.of_member(conn, member_id)


def test_strangers_are_sent_to_log_in(client: TestClient) -> None:
    page = client.get("/members", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client.get("/api/members").status_code == 401
    assert client.get("/api/members/1").status_code == 401


@pytest.mark.parametrize(
    ("name", "sees"),
    [("root", {"run", "read", "loose"}), ("ops", {"run"}), ("eye", {"read"})],
)
def test_the_list_holds_the_members_of_visible_groups_only(
    client: TestClient, world: World, name: str, sees: set[str]
) -> None:
    login(client, name)
    expected = {f"{who}{i}" for who in sees for i in range(3)}
    assert set(names(client.get("/api/members"))) == expected
    page = client.get("/members").text
    for member_id in ids(world).values():
        assert page.count(f'href="/members/{member_id}"') <= 1
    listed = set(re.findall(r'data-member="(\d+)"', page))
    assert listed == {str(ids(world)[who]) for who in expected}


def test_columns(client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    m = shape(world)
    login(client, "ops")
    rows = {r["platform_id"]: r for r in client.get("/api/members").json()["members"]}
    run0, run1 = rows["run0"], rows["run1"]
    assert run0["groups"] == [{"id": world.runners, "name": "跑团一群"}]
    assert (run0["level"], run0["role"], run0["messages"]) == ("ultra", "owner", 100)
    assert run0["last_message_at"] is not None
    assert (run1["name"], run1["level"], run1["tags"]) == ("阿跑", "silent", ["VIP"])
    assert [r["platform_id"] for r in rows.values()] == ["run0", "run2", "run1"]  # busiest first
    page = client.get("/members").text
    row = re.search(rf'<tr data-member="{m["run0"]}">(.*?)</tr>', page, re.S)
    assert row is not None
    for text in ("run0", "跑团一群", "核心", "群主", "100", "2026-11-0"):
        assert text in row.group(1), text


def test_search_by_name_past_name_and_platform_id(client: TestClient, world: World) -> None:
    shape(world)
    login(client, "ops")
    assert names(client.get("/api/members", params={"q": "阿跑"})) == ["run1"]  # display name
    assert names(client.get("/api/members", params={"q": "老跑"})) == ["run2"]  # a past name
    assert names(client.get("/api/members", params={"q": "N0"})) == ["run0"]  # platform id
    assert names(client.get("/api/members", params={"q": "%"})) == []  # no wildcards
    assert names(client.get("/api/members", params={"q": "read"})) == []  # not ops' members
    page = client.get("/members", params={"q": "老跑"}).text
    assert 'value="老跑"' in page and "run2" in page and "run0" not in page


def test_filters_level_role_tag_and_group(client: TestClient, world: World) -> None:
    shape(world)
    login(client, "ops")

    def only(**params: str) -> list[str]:
        return names(client.get("/api/members", params=params))

    assert only(level="ultra") == ["run0"]
    assert only(level="silent") == ["run1"]
    assert only(level="fan") == []
    assert only(role="owner") == ["run0"]
    assert only(role="admin") == ["run2"]
    assert only(role="member") == ["run1"]
    assert only(tag="VIP") == ["run1"]  # read1's VIP is another community's
    assert only(tag="VIP", level="ultra") == []
    assert only(group=str(world.runners)) == ["run0", "run2", "run1"]
    page = client.get("/members", params={"role": "admin"}).text
    assert "run2" in page and "run0" not in page
    login(client, "root")
    assert only(role="admin") == ["read0", "run2"]  # a vice owner is staff; busiest first
    assert sorted(only(group=str(world.readers))) == ["read0", "read1", "read2"]
    assert only(tag="VIP") == ["read1", "run1"]


def test_bad_filters(client: TestClient, world: World) -> None:
    login(client, "ops")
    assert client.get("/api/members", params={"group": world.readers}).status_code == 404
    assert client.get("/members", params={"group": world.readers}).status_code == 404
    assert client.get("/api/members", params={"group": 99999}).status_code == 404
    for params in ({"level": "hero"}, {"role": "king"}, {"group": "x"}, {"page": "0"}):
        assert client.get("/api/members", params=params).status_code == 422, params
    assert client.get("/api/members", params={"group": "", "level": ""}).status_code == 200


def test_paging_keeps_the_filters(client: TestClient, world: World) -> None:
    with world.engine.begin() as conn:
        for i in range(60):
            member_id = conn.execute(
                t.members.insert().values(
                    platform="telegram", external_id=f"p{i}", display_name=f"pager{i}"
                )
            ).inserted_primary_key[0]
            conn.execute(
                t.memberships.insert().values(
                    group_id=world.runners, member_id=member_id, message_count=i + 1
                )
            )
    login(client, "ops")
    first = client.get("/api/members", params={"q": "pager"}).json()
    assert (first["total"], first["pages"], first["page"]) == (60, 2, 1)
    assert len(first["members"]) == 50 and first["members"][0]["name"] == "pager59"
    second = client.get("/api/members", params={"q": "pager", "page": 2}).json()
    assert [m["name"] for m in second["members"]] == [f"pager{i}" for i in range(9, -1, -1)]
    beyond = client.get("/api/members", params={"q": "pager", "page": 3}).json()
    assert beyond["members"] == [] and beyond["total"] == 60
    page = client.get("/members", params={"q": "pager", "role": "member"}).text
    assert page.count("data-member=") == 50
    link = re.search(r'<a rel="next" href="([^"]+)"', page)
    assert link is not None
    assert link.group(1) == "/members?q=pager&amp;role=member&amp;page=2"
    second_page = client.get("/members?q=pager&role=member&page=2").text
    assert second_page.count("data-member=") == 10 and 'rel="prev"' in second_page
    assert 'rel="next"' not in second_page


def test_the_history_shows_visible_groups_only(client: TestClient, world: World) -> None:
    m = shape(world)
    with world.engine.begin() as conn:  # run0 also joined 读书会 and spoke there
        conn.execute(
            t.memberships.insert().values(
                group_id=world.readers,
                member_id=m["run0"],
                joined_at=MS0,
                message_count=1,
                first_message_at=MS0 + 1,
                last_message_at=MS0 + 1,
            )
        )
        conn.execute(
            t.messages.insert().values(
                group_id=world.readers,
                platform_id="secret-1",
                sender_id=m["run0"],
                sent_at=MS0 + 1,
                kind="text",
                text="读书会的秘密",
            )
        )
    login(client, "ops")
    mine = client.get(f"/api/members/{m['run0']}").json()
    assert [g["group"] for g in mine["memberships"]] == ["跑团一群"]
    assert mine["messages"] == 100 and mine["role"] == "owner"
    assert len(mine["recent"]) == 10 and {r["group"] for r in mine["recent"]} == {"跑团一群"}
    assert mine["recent"][0]["sent_at"] > mine["recent"][-1]["sent_at"]  # newest first
    page = client.get(f"/members/{m['run0']}").text
    assert "跑团一群" in page and "读书会" not in page and "秘密" not in page
    assert "消息 27" in page  # run0's last message in 跑团一群
    past = client.get(f"/api/members/{m['run2']}").json()["names"]
    assert {n["name"] for n in past} == {"run2", "老跑友"}
    assert "老跑友" in client.get(f"/members/{m['run2']}").text
    login(client, "root")
    everything = client.get(f"/api/members/{m['run0']}").json()
    assert {g["group"] for g in everything["memberships"]} == {"跑团一群", "读书会"}
    assert everything["recent"][0]["text"] == "消息 27"
    assert "读书会的秘密" in [r["text"] for r in everything["recent"]]


def test_isolation_on_every_route_with_an_id(client: TestClient, world: World) -> None:
    m = ids(world)
    login(client, "ops")
    token = csrf(client, "/members")
    for other in (m["read0"], m["loose0"], 99999):
        assert client.get(f"/members/{other}").status_code == 404
        assert client.get(f"/api/members/{other}").status_code == 404
        form = client.post(f"/members/{other}/tags", data={"csrf_token": token, "add": "偷看"})
        assert form.status_code == 404
        api = client.post(
            f"/api/members/{other}/tags", json={"add": ["偷看"]}, headers={"X-CSRF-Token": token}
        )
        assert api.status_code == 404
    assert client.get(f"/members/{m['run0']}").status_code == 200
    assert client.get("/members/99999999999999999999").status_code in (404, 422)  # never 500
    assert tags_of(world, m["read0"]) == [] and audit_rows(world) == []

    login(client, "eye")  # a viewer of 读书会 sees its members' tags, changes nothing
    with world.engine.begin() as conn:
        tags.add(conn, m["read0"], ["老会员"])
    page = client.get(f"/members/{m['read0']}").text
    assert "老会员" in page and 'name="add"' not in page and 'name="remove"' not in page
    token = csrf(client, "/members")
    form = client.post(f"/members/{m['read0']}/tags", data={"csrf_token": token, "add": "x"})
    assert form.status_code == 403
    api = client.post(
        f"/api/members/{m['read0']}/tags", json={"add": ["x"]}, headers={"X-CSRF-Token": token}
    )
    assert api.status_code == 403
    assert tags_of(world, m["read0"]) == ["老会员"] and audit_rows(world) == []


def test_tags_through_the_form(client: TestClient, world: World) -> None:
    m = ids(world)
    login(client, "ops")
    page = client.get(f"/members/{m['run1']}").text
    assert 'name="add"' in page
    token = csrf(client, f"/members/{m['run1']}")
    added = client.post(
        f"/members/{m['run1']}/tags",
        data={"csrf_token": token, "add": "VIP, 讲师，老用户  VIP"},
        follow_redirects=False,
    )
    assert added.status_code == 303 and added.headers["location"] == f"/members/{m['run1']}"
    assert tags_of(world, m["run1"]) == ["VIP", "老用户", "讲师"]
    page = client.get(f"/members/{m['run1']}").text
    assert page.count('name="remove"') == 3
    removed = client.post(
        f"/members/{m['run1']}/tags",
        data={"csrf_token": token, "remove": "讲师"},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert tags_of(world, m["run1"]) == ["VIP", "老用户"]
    target = f"member:{m['run1']}"
    assert audit_rows(world) == [
        ("ops", target, {"added": ["VIP", "老用户", "讲师"], "removed": []}),
        ("ops", target, {"added": [], "removed": ["讲师"]}),
    ]
    listed = client.get("/api/members", params={"tag": "老用户"}).json()["members"]
    assert [r["platform_id"] for r in listed] == ["run1"]


def test_tags_through_the_api(client: TestClient, world: World) -> None:
    m = ids(world)
    login(client, "ops")
    token = csrf(client, "/members")
    url = f"/api/members/{m['run2']}/tags"
    first = client.post(url, json={"add": ["讲师", "VIP"]}, headers={"X-CSRF-Token": token})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "id": m["run2"],
        "tags": ["VIP", "讲师"],
        "added": ["VIP", "讲师"],
        "removed": [],
    }
    second = client.post(
        url, json={"add": ["VIP"], "remove": ["讲师"]}, headers={"X-CSRF-Token": token}
    )
    assert second.json()["tags"] == ["VIP"] and second.json()["added"] == []
    assert client.get(f"/api/members/{m['run2']}").json()["tags"] == ["VIP"]
    with world.engine.begin() as conn:  # a script with a personal token needs no CSRF header
        user = accounts.authenticate(conn, "ops", PASSWORD)
        assert user is not None
        bearer = accounts.new_token(conn, user.id, "script")
    scripted = client.post(
        url, json={"remove": ["VIP"]}, headers={"Authorization": f"Bearer {bearer}"}
    )
    assert scripted.status_code == 200 and scripted.json()["tags"] == []
    assert [(u, d) for u, _target, d in audit_rows(world)] == [
        ("ops", {"added": ["VIP", "讲师"], "removed": []}),
        ("ops", {"added": [], "removed": ["讲师"]}),
        ("ops", {"added": [], "removed": ["VIP"]}),
    ]
    for body in ({"add": "VIP"}, {"add": [1]}, {"tags": ["VIP"]}, [], {"add": [None]}):
        bad = client.post(url, json=body, headers={"X-CSRF-Token": token})
        assert bad.status_code == 422, body
    raw = client.post(
        url,
        content=b"not json",
        headers={"X-CSRF-Token": token, "content-type": "application/json"},
    )
    assert raw.status_code == 422


def test_a_bad_tag_shows_the_error_and_changes_nothing(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    m = ids(world)
    login(client, "ops")
    token = csrf(client, f"/members/{m['run0']}")
    long = "长" * 101
    form = client.post(
        f"/members/{m['run0']}/tags", data={"csrf_token": token, "add": f"好人 {long}"}
    )
    assert form.status_code == 400
    assert "不是有效的标签" in form.text and 'role="alert"' in form.text
    assert f'name="add" value="好人 {long}"' in form.text  # the page again, to correct it
    api = client.post(
        f"/api/members/{m['run0']}/tags",
        json={"add": ["好人", " "]},
        headers={"X-CSRF-Token": token},
    )
    assert api.status_code == 422 and "不是有效的标签" in api.json()["detail"][0]["msg"]
    with world.engine.begin() as conn:
        tags.add(conn, m["run0"], ["留着"])
    both = client.post(
        f"/api/members/{m['run0']}/tags",
        json={"remove": ["留着"], "add": [long]},
        headers={"X-CSRF-Token": token},
    )
    assert both.status_code == 422
    assert tags_of(world, m["run0"]) == ["留着"] and audit_rows(world) == []


def test_changes_without_the_csrf_token_are_refused(client: TestClient, world: World) -> None:
    m = ids(world)
    login(client, "ops")
    url = f"/members/{m['run0']}/tags"
    assert client.post(url, data={"add": "VIP"}).status_code == 403
    assert client.post(url, data={"add": "VIP", "csrf_token": "forged"}).status_code == 403
    api = f"/api/members/{m['run0']}/tags"
    assert client.post(api, json={"add": ["VIP"]}).status_code == 403
    assert client.post(api, json={"add": ["VIP"]}, headers={"X-CSRF-Token": "x"}).status_code == 403
    assert tags_of(world, m["run0"]) == [] and audit_rows(world) == []


def test_tags_are_escaped(client: TestClient, world: World) -> None:
    m = ids(world)
    with world.engine.begin() as conn:
        tags.add(conn, m["run0"], ["<b>x</b>"])
    login(client, "ops")
    for path in ("/members", f"/members/{m['run0']}"):
        text = client.get(path).text
        assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text


def test_chinese_by_default_english_on_request(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    m = shape(world)
    login(client, "ops")
    listing = client.get("/members").text
    assert "你的群里的成员" in listing and "群主" in listing and "核心" in listing
    member = client.get(f"/members/{m['run0']}").text
    assert "在你的群中的经历" in member and "用过的名字" in member
    assert "没有这个成员" in client.get(f"/members/{m['read0']}").text
    assert "Members of your groups" in client.get("/members?lang=en").text
    member = client.get(f"/members/{m['run0']}").text  # the choice is kept in a cookie
    assert "History in your groups" in member and "group owner" in member
    assert "no such member" in client.get(f"/api/members/{m['read0']}").json()["detail"]


def test_the_api_is_documented(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    for path in ("/api/members", "/api/members/{member_id}", "/api/members/{member_id}/tags"):
        assert path in spec["paths"], path
    assert "/members" not in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert {"MembersOut", "MemberOut", "TagsIn", "TagsOut"} <= set(schemas)


def marks_of(world: World, member: str) -> list[tuple[int, str]]:
    pm = t.policy_marks
    with world.engine.connect() as conn:
        rows = conn.execute(select(pm.c.group_id, pm.c.key).where(pm.c.key.like(f"%:{member}")))
        return sorted((g, k) for g, k in rows)


def test_trust_is_shown_and_taken_back(client: TestClient, world: World) -> None:
    """Earned or given trust shows on the member's page; "take trust back" removes it in that
    group only, says so in the audit log, and is refused to viewers and outside one's groups."""
    m = ids(world)
    with world.engine.begin() as conn:
        for group, key in [
            (world.runners, "earned:run1"),
            (world.runners, "trusted:run1"),
            (world.readers, "earned:read0"),
            (world.runners, "joined:run1"),
        ]:
            conn.execute(
                t.policy_marks.insert().values(group_id=group, policy="moderation", key=key, at=0)
            )
    login(client, "ops")
    page = client.get(f"/members/{m['run1']}").text
    assert "trusted by a person" in page and "Take trust back" in page  # over earned
    shown = client.get(f"/api/members/{m['run1']}").json()["memberships"]
    assert [r["trusted"] for r in shown] == ["console"]
    token = csrf(client, f"/members/{m['run1']}")
    taken = client.post(
        f"/members/{m['run1']}/trust",
        data={"csrf_token": token, "group_id": str(world.runners)},
        follow_redirects=False,
    )
    assert taken.status_code == 303
    assert marks_of(world, "run1") == [(world.runners, "joined:run1")]  # when they joined stays
    again = client.get(f"/api/members/{m['run1']}").json()["memberships"]
    assert [r["trusted"] for r in again] == [None]
    a = t.audit_log
    with world.engine.connect() as conn:
        logged = conn.execute(select(a.c.target).where(a.c.action == "member.trust")).all()
    assert [r.target for r in logged] == [f"member:{m['run1']}"]

    no_group = client.post(f"/members/{m['run1']}/trust", data={"csrf_token": token})
    assert no_group.status_code in (400, 422) and "Traceback" not in no_group.text

    # another community's member, or a group one cannot see: 404, nothing changes
    other = client.post(
        f"/members/{m['read0']}/trust",
        data={"csrf_token": token, "group_id": str(world.readers)},
    )
    assert other.status_code == 404
    assert marks_of(world, "read0") == [(world.readers, "earned:read0")]

    login(client, "eye")  # a viewer of 读书会 sees the trust, cannot take it back
    page = client.get(f"/members/{m['read0']}").text
    assert "earned by clean messages" in page and "Take trust back" not in page
    token = csrf(client, f"/members/{m['read0']}")
    refused = client.post(
        f"/members/{m['read0']}/trust",
        data={"csrf_token": token, "group_id": str(world.readers)},
    )
    assert refused.status_code == 403
    assert marks_of(world, "read0") == [(world.readers, "earned:read0")]


def test_strikes_are_shown_and_forgiven(client: TestClient, world: World) -> None:
    """A member's strikes of the last 7 days show per group; "forgive" clears that group's,
    stale ones too, says so in the audit log, and is refused to viewers and strangers."""
    m = ids(world)
    now = int(time.time() * 1000)
    with world.engine.begin() as conn:
        for group, key, at in [
            (world.runners, "strike0:run1", now - 3_600_000),
            (world.runners, "strike1:run1", now - 60_000),
            (world.runners, "strike2:run1", now - 8 * 86_400_000),  # older than the ladder's
            (world.readers, "strike0:read0", now),
        ]:
            conn.execute(
                t.policy_marks.insert().values(group_id=group, policy="moderation", key=key, at=at)
            )
    login(client, "ops")
    assert [
        r["strikes"] for r in client.get(f"/api/members/{m['run1']}").json()["memberships"]
    ] == [2]
    page = client.get(f"/members/{m['run1']}").text
    assert "Strikes (7 days): 2" in page and ">Forgive</button>" in page
    token = csrf(client, f"/members/{m['run1']}")
    done = client.post(
        f"/members/{m['run1']}/strikes",
        data={"csrf_token": token, "group_id": str(world.runners)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and marks_of(world, "run1") == []
    a = t.audit_log
    with world.engine.connect() as conn:
        (entry,) = conn.execute(select(a).where(a.c.action == "member.strikes")).all()
    assert entry.target == f"member:{m['run1']}" and '"forgiven":3' in entry.details
    stranger = client.post(
        f"/members/{m['read0']}/strikes",
        data={"csrf_token": token, "group_id": str(world.readers)},
    )
    assert stranger.status_code == 404

    login(client, "eye")  # a viewer sees them, cannot forgive
    page = client.get(f"/members/{m['read0']}").text
    assert "Strikes (7 days): 1" in page and ">Forgive</button>" not in page
    token = csrf(client, f"/members/{m['read0']}")
    refused = client.post(
        f"/members/{m['read0']}/strikes",
        data={"csrf_token": token, "group_id": str(world.readers)},
    )
    assert refused.status_code == 403
    assert marks_of(world, "read0") == [(world.readers, "strike0:read0")]
