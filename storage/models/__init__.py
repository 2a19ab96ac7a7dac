"""Tables, by aggregate. Every organisation-owned row carries `org_id` (DESIGN.md: several
organisations). Importing this package registers every table (Alembic reads the metadata)."""

from __future__ import annotations

from storage.models.cases import (
    PERIOD_INDEX_COLUMNS,
    AccessAttempt,
    Attachment,
    AuditAnchor,
    AuditHead,
    CardMessage,
    Case,
    CaseCounter,
    CaseDivision,
    CaseEvent,
    CaseKey,
    CaseTerm,
    KeyRing,
    ReminderLog,
)
from storage.models.chats import (
    INBOX_MAX_ATTEMPTS,
    Conversation,
    HealthProbe,
    InboxEvent,
    LinePage,
    OutboxMessage,
    ProcessedUpdate,
    WebMessage,
)
from storage.models.organisations import (
    ChatBinding,
    DeskAccess,
    DeskSession,
    Division,
    OneTimeCode,
    Organisation,
    Staff,
    StaffDivision,
)
from storage.models.plan import PlanItem, ProgressReport, RoundDue

__all__ = [
    "INBOX_MAX_ATTEMPTS",
    "PERIOD_INDEX_COLUMNS",
    "AccessAttempt",
    "Attachment",
    "AuditAnchor",
    "AuditHead",
    "CardMessage",
    "Case",
    "CaseCounter",
    "CaseDivision",
    "CaseEvent",
    "CaseKey",
    "CaseTerm",
    "ChatBinding",
    "Conversation",
    "DeskAccess",
    "DeskSession",
    "Division",
    "HealthProbe",
    "InboxEvent",
    "KeyRing",
    "LinePage",
    "OneTimeCode",
    "Organisation",
    "OutboxMessage",
    "PlanItem",
    "ProcessedUpdate",
    "ProgressReport",
    "ReminderLog",
    "RoundDue",
    "Staff",
    "StaffDivision",
    "WebMessage",
]
