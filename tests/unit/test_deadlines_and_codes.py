"""Buddhist-era years and display, references and tracking codes (deadlines: test_office_hours.py)."""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from handlers.cases.submit import format_reference
from kernel.deadlines import buddhist_year, format_date, format_datetime
from storage.crypto import hash_tracking_code, new_tracking_code, verify_tracking_code

BKK = ZoneInfo("Asia/Bangkok")


def test_local_date_decides_the_buddhist_year() -> None:
    # 31 Dec 2026 18:30 UTC is already 1 Jan 2027 in Bangkok: B.E. 2570
    assert buddhist_year(datetime(2026, 12, 31, 18, 30, tzinfo=UTC), BKK) == 2570
    assert buddhist_year(datetime(2026, 12, 31, 16, 0, tzinfo=UTC), BKK) == 2569


def test_dates_show_buddhist_era_in_thai() -> None:
    moment = datetime(2026, 11, 26, 7, 5, tzinfo=UTC)
    assert format_datetime(moment, lang="th", tz=BKK) == "26 พ.ย. 2569 14:05 น."
    assert format_datetime(moment, lang="en", tz=BKK) == "26 Nov 2026 14:05"
    assert format_date(moment, lang="th", tz=BKK) == "26 พ.ย. 2569"


def test_reference_format() -> None:
    assert format_reference("CM", 2569, 42) == "CM-2569-000042"


def test_tracking_code_is_16_grouped_digits_and_only_a_slow_hash_is_kept() -> None:
    code = new_tracking_code()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)
    assert new_tracking_code() != code
    stored = hash_tracking_code(code)
    assert stored.startswith("scrypt$") and code.replace(" ", "") not in stored
    assert verify_tracking_code(code, stored)
    assert verify_tracking_code(code.replace(" ", ""), stored)  # spacing does not matter
    wrong = ("1" if code[0] != "1" else "2") + code[1:]
    assert not verify_tracking_code(wrong, stored)
    assert not verify_tracking_code(code, None)
