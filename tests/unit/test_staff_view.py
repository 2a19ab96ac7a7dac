"""What staff receive of a case: an anonymous case's view has no identity to leak, by its type."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from handlers.cases.cards import case_card
from handlers.cases.staff_view import CaseFile, CaseForStaff, NamedCaseForStaff, case_for_staff
from kernel.org_config import OrgConfig
from kernel.org_files import Organisations
from kernel.routing import route_report
from storage.crypto import Vault
from storage.models import Case

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
DETAILS = {"description": "เรียกรับเงินค่าอนุญาต", "when": "เมื่อวาน", "where": None, "people": None,
           "location": [18.79, 98.98]}  # fmt: skip
IDENTITY = {"name": "สมชาย ใจดี", "phone": "+66812345678", "chat_id": "1001"}


def _case(vault: Vault, *, anonymous: bool, reporter_enc: str | None = None) -> Case:
    return Case(
        id=7, org_id=1, reference="CM-2569-000007", be_year=2569, seq=7, report_type="corruption",
        concerns_personnel="yes", category="bribery", status="received", anonymous=anonymous,
        details_enc=vault.encrypt(DETAILS), reporter_enc=reporter_enc or vault.encrypt(IDENTITY),
        reporter_channel="telegram", reporter_key="k", tracking_hash="h", created_at=NOW, ack_due_at=NOW,
        reply_due_at=NOW, update_due_at=NOW,
    )  # fmt: skip


def _card(org: OrgConfig, view: CaseForStaff) -> str:
    route = route_report(org, report_type="corruption", concerns_personnel="yes", named_division=None)
    return case_card(org, view, route=route)[0].text


def test_an_anonymous_case_has_no_identity_field_and_its_identity_is_never_read(
    vault: Vault, orgs: Organisations
) -> None:
    # the stored identity is not even decryptable: building the view must not try
    view = case_for_staff(_case(vault, anonymous=True, reporter_enc="not-a-token"), vault, [])
    assert type(view) is CaseForStaff and not isinstance(view, NamedCaseForStaff)
    assert "reporter" not in {f.name for f in dataclasses.fields(view)}
    assert not any("สมชาย" in str(getattr(view, f.name)) for f in dataclasses.fields(view))
    org = orgs.single
    assert org is not None
    text = _card(org, view)
    assert "ไม่เปิดเผยชื่อ" in text and "สมชาย" not in text and "0812345678" not in text


def test_a_named_case_shows_the_reporters_contact(vault: Vault, orgs: Organisations) -> None:
    files = [CaseFile.of("photo", "receipt-1")]
    view = case_for_staff(_case(vault, anonymous=False), vault, files)
    assert isinstance(view, NamedCaseForStaff) and view.reporter.name == "สมชาย ใจดี"
    assert view.location == (18.79, 98.98) and view.files == (CaseFile("photo", "receipt-1"),)
    org = orgs.single
    assert org is not None
    text = _card(org, view)
    assert "สมชาย ใจดี" in text and "+66812345678" in text
    assert "1001" not in text  # the chat id is for replies, never shown
