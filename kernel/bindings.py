"""Which chats may be bound together: corruption tip-offs need a chat of their own."""

from __future__ import annotations

from collections.abc import Iterable

from kernel.org_config import OrgConfig

COORDINATORS = "coordinators"


def corruption_targets(org: OrgConfig) -> set[str]:
    """Targets that receive corruption tip-offs: their divisions, and the coordinators (conflicts)."""
    codes = {c for r in org.routing if r.report_type == "corruption" for c in r.primary + r.informed}
    return {f"division:{c}" for c in codes} | {COORDINATORS}


def binding_conflict(org: OrgConfig, target: str, other_targets_of_chat: Iterable[str]) -> bool:
    """True when binding `target` to a chat would mix general grievances with tip-offs there."""
    general = f"division:{org.general_grievance_division}"
    corrupt = corruption_targets(org)
    others = set(other_targets_of_chat) - {target}
    return (target == general and bool(others & corrupt)) or (target in corrupt and general in others)
