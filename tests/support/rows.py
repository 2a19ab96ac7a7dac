"""Raw table rows for tests of older schema revisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def raw_case_row(at: datetime) -> dict[str, Any]:
    """A case's required columns for inserting it with plain SQL, as tests of older schema revisions
    must (the models describe the newest one); add id, reference and seq."""
    return {
        "org_id": 1, "be_year": 2569, "report_type": "grievance", "concerns_personnel": "no",
        "category": "roads", "status": "received", "anonymous": True, "lang": "th",
        "details_enc": "x", "reporter_enc": "x", "reporter_channel": "test", "reporter_key": "k",
        "tracking_hash": "h", "created_at": at, "ack_due_at": at, "reply_due_at": at,
        "update_due_at": at,
    }  # fmt: skip
