"""Buddhist-era years and display, references and tracking codes (deadlines: test_office_hours.py)."""

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.cases.submit import format_reference
from kernel.deadlines import DateError, buddhist_year, format_date, format_datetime, read_date
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


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("2569-12-01", date(2026, 12, 1)),  # Buddhist era, as a Thai clerk types it
        ("2026-12-01", date(2026, 12, 1)),
        ("1/12/2569", date(2026, 12, 1)),
        ("01/12/2026", date(2026, 12, 1)),
        ("๑/๑๒/๒๕๖๙", date(2026, 12, 1)),  # Thai digits
        (" 2568-10-01 ", date(2025, 10, 1)),
    ],
)
def test_dates_are_read_in_either_era(typed: str, meant: date) -> None:
    assert read_date(typed) == meant


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("1/12/69", "year in full"),  # 2569 or 2069?
        ("2350-01-01", "neither"),
        ("2569-02-30", "not a day"),
        ("1.10.2025", "not a date"),
        ("", "not a date"),
    ],
)
def test_a_date_that_cannot_be_read_or_is_ambiguous_is_refused_with_a_hint(typed: str, hint: str) -> None:
    with pytest.raises(DateError, match=hint):
        read_date(typed)
