"""DESIGN.md rule 10: a whole dialogue with sentinel personal data leaves no trace of it in the logs."""

from __future__ import annotations

import logging

import pytest

from bot.logs import SafeFormatter, setup_logging
from tests.e2e.conftest import PERSONNEL, Citizen, RunningBot, press

SENTINELS = {
    "description": "SENTINEL-DESC ผู้อำนวยการกองรับเงินสด",
    "people": "SENTINEL-PEOPLE นายสมปอง",
    "name": "SENTINEL-NAME วิไล",
    "phone": "+66899990000",
}


async def test_logs_hold_no_personal_data_or_token(bot: RunningBot, caplog: pytest.LogCaptureFixture) -> None:
    setup_logging("INFO")  # the application's own configuration, as `damrongtham run` sets it
    logging.getLogger().addHandler(caplog.handler)
    api = bot.api
    citizen = Citizen(api, 7770001)
    await citizen.play(
        [
            ("/start", "กรุณาเลือก"),
            (press("แจ้งเบาะแสการทุจริต"), "บุคลากร"),
            (press("ใช่"), "ส่วนราชการใด"),
            (press("ข้าม / ไม่แน่ใจ"), "ประเภท"),
            (press("สินบน"), "รายละเอียด"),
            (SENTINELS["description"], "เมื่อใด"),
            (press("ข้าม"), "ที่ใด"),
            ("ข้าม", "ผู้เกี่ยวข้อง"),
            (SENTINELS["people"], "หลักฐาน"),
            (press("ข้าม"), "ไม่เปิดเผยชื่อ"),
            (press("เปิดเผยชื่อ"), "ชื่อ"),
            (SENTINELS["name"], "ติดต่อกลับ"),
            (("contact", SENTINELS["phone"]), "สรุป"),
            (press("ส่งเรื่อง"), "รหัสติดตาม"),
        ]
    )
    await api.wait_for_messages(PERSONNEL, 1)
    logged = "\n".join(SafeFormatter("%(message)s").format(r) for r in caplog.records)
    logged += "\n".join(repr(r.__dict__) for r in caplog.records)
    assert "case submitted" in logged  # the dialogue was logged at all
    for value in [*SENTINELS.values(), "7770001", api.token]:
        assert value not in logged


def test_control_characters_are_stripped_from_log_lines() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "evil\x1b[2Jline\rforged", None, None)
    assert SafeFormatter("%(message)s").format(record) == "evil?[2Jline?forged"
