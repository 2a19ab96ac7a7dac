"""Open311 GeoReport v2, read only (issue 16): grievances only, in the spec's field names, never a
tip-off, an information request or who reported; descriptions and places only when the
organisation's file makes them public."""

from __future__ import annotations

import json
import tomllib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from aiohttp.test_utils import TestClient, TestServer

from bot.inbox import Inbox
from bot.web import build_web_app
from handlers.cases import staff_cases as staff
from handlers.cases.open311 import REQUEST_FIELDS, SERVICE_FIELDS
from handlers.cases.submit import ReporterInfo, submit_report
from kernel.draft import Draft
from kernel.org_files import default_config_path, load_organisations
from storage.db import Database
from tests.support.clock import Clock
from tests.support.sender import RecordingSender
from tests.unit.conftest import Desk, make_desk
from tests.unit.test_use_cases import OFFICER, _run

NAME, PHONE = "สมชาย ใจดีมาก", "0812345678"
REQUIRED = ("service_request_id", "status", "service_code", "requested_datetime")


async def _report(desk: Desk, kind: str, category: str, text: str, **extra: Any) -> str:
    org = desk.services.orgs.single
    assert org is not None
    draft = Draft.from_dict(
        {"type": kind, "concerns": "no", "category": category, "description": text, **extra}
    )
    who = ReporterInfo(channel="test", chat_id="77", user_id="77", lang="th")
    done = await _run(
        desk, lambda w: submit_report(w.session, w.services, org=org, draft=draft, reporter=who, now=w.now)
    )
    return done.reference


async def _cases(desk: Desk) -> dict[str, str]:
    await desk.add_staff("601", "office", name="ธนา")
    refs = {
        "road": await _report(
            desk, "grievance", "roads", "ถนนหน้าโรงเรียนเป็นหลุมลึกมาก", location=[18.79, 98.98]
        ),
        "named": await _report(
            desk, "grievance", "water", "น้ำประปาไม่ไหลสามวันแล้ว", anonymous=False, name=NAME, phone=PHONE
        ),
        "tip": await _report(desk, "corruption", "bribery", "เจ้าหน้าที่เรียกรับเงินค่าใบอนุญาต"),
        "info": await _report(
            desk, "information", desk.services.orgs.single.categories.information[0].code, "ขอสำเนาสัญญาจ้างถนน"
        ),  # type: ignore[union-attr]
    }
    return refs


@pytest.fixture
async def client(desk: Desk) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(build_web_app(desk.services, Inbox(desk.db, desk.services.vault)))) as c:
        yield c


async def _json(client: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return await response.json()


def _valid_request(request: dict[str, Any]) -> None:
    """A service request as GeoReport v2 lists its fields."""
    assert set(request) <= set(REQUEST_FIELDS) and all(request.get(f) for f in REQUIRED)
    assert request["status"] in ("open", "closed")
    for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
        if request.get(field) is not None:
            assert datetime.fromisoformat(request[field]).tzinfo is not None


async def test_only_grievances_are_published_without_who_reported_or_what_they_wrote(
    desk: Desk, client: TestClient[Any, Any]
) -> None:
    refs = await _cases(desk)
    discovery = await _json(client, "/open311/v2/discovery.json")
    assert discovery["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    services = await _json(client, "/open311/v2/services.json?jurisdiction_id=CM")
    assert {s["group"] for s in services} == {"grievance"} and all(
        set(s) == set(SERVICE_FIELDS) for s in services
    )
    assert "bribery" not in {s["service_code"] for s in services}
    listed = await _json(client, "/open311/v2/requests.json?jurisdiction_id=CM")
    assert {r["service_request_id"] for r in listed} == {refs["road"], refs["named"]}
    for request in listed:
        _valid_request(request)
        assert request["description"] is None and request["lat"] is None  # the file keeps them private
    raw = json.dumps(listed, ensure_ascii=False)
    for secret in (NAME, PHONE, "ถนนหน้าโรงเรียน", refs["tip"], refs["info"], "เรียกรับเงิน"):
        assert secret not in raw
    await _json(client, f"/open311/v2/requests/{refs['tip']}.json?jurisdiction_id=CM", status=404)
    await _json(client, f"/open311/v2/requests/{refs['info']}.json?jurisdiction_id=CM", status=404)


async def test_filters_paging_and_the_latest_public_note(
    desk: Desk, client: TestClient[Any, Any], clock: Clock
) -> None:
    refs = await _cases(desk)
    async with desk.db.session() as s:
        from sqlalchemy import select

        from storage.models import Case

        road_id = (await s.execute(select(Case.id).where(Case.reference == refs["road"]))).scalar_one()
    office = type(OFFICER)("test", "601")
    await _run(desk, lambda w: staff.accept_case(w, case_id=road_id, by=office))
    await _run(
        desk,
        lambda w: staff.close_case(
            w, case_id=road_id, by=office, outcome="resolved", public_note="ซ่อมถนนแล้ว"
        ),
    )
    [road] = await _json(client, f"/open311/v2/requests/{refs['road'].lower()}.json?jurisdiction_id=cm")
    _valid_request(road)
    assert (
        road["status"] == "closed"
        and road["status_notes"] == "ซ่อมถนนแล้ว"
        and road["expected_datetime"] is None
    )
    assert road["agency_responsible"]
    closed = await _json(client, "/open311/v2/requests.json?jurisdiction_id=CM&status=closed")
    assert [r["service_request_id"] for r in closed] == [refs["road"]]
    water = await _json(client, "/open311/v2/requests.json?jurisdiction_id=CM&service_code=water")
    assert [r["service_request_id"] for r in water] == [refs["named"]]
    first = await _json(client, "/open311/v2/requests.json?jurisdiction_id=CM&page_size=1")
    second = await _json(client, "/open311/v2/requests.json?jurisdiction_id=CM&page_size=1&page=2")
    assert len(first) == len(second) == 1 and first != second
    today = clock().date().isoformat()
    assert (
        len(
            await _json(
                client, f"/open311/v2/requests.json?jurisdiction_id=CM&start_date={today}T00:00:00+07:00"
            )
        )
        == 2
    )
    assert await _json(client, "/open311/v2/requests.json?jurisdiction_id=CM&end_date=2020-01-01") == []
    errors = await _json(client, "/open311/v2/requests.json?jurisdiction_id=CM&status=lost", status=400)
    assert errors[0]["code"] == 400 and errors[0]["description"]
    await _json(client, "/open311/v2/services.json?jurisdiction_id=NOWHERE", status=404)


async def test_descriptions_and_places_when_the_organisation_publishes_them(
    sqlite_database: Database, vault: Any, clock: Clock, sender: RecordingSender, tmp_path: Path
) -> None:
    data = tomllib.loads(default_config_path().read_text(encoding="utf-8"))
    data["open_data"] = {"grievance_descriptions": True, "grievance_locations": True}
    (tmp_path / "orgs").mkdir()
    (tmp_path / "orgs" / "cm.toml").write_text(tomli_w.dumps(data))
    desk = await make_desk(sqlite_database, load_organisations(str(tmp_path / "orgs")), vault, clock, sender)
    refs = await _cases(desk)
    async with TestClient(
        TestServer(build_web_app(desk.services, Inbox(desk.db, desk.services.vault)))
    ) as client:
        listed = {r["service_request_id"]: r for r in await _json(client, "/open311/v2/requests.json")}
    assert listed[refs["road"]]["description"] == "ถนนหน้าโรงเรียนเป็นหลุมลึกมาก"
    assert (listed[refs["road"]]["lat"], listed[refs["road"]]["long"]) == (18.79, 98.98)
    assert listed[refs["named"]]["lat"] is None and NAME not in json.dumps(listed, ensure_ascii=False)
