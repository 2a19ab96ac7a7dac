"""Which divisions receive a report: the organisation file's rules plus conflict of interest.

Seed policies 1.4, 1.5, 7.2, 7.3 and 8.2; DESIGN.md "Routing".
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.org_config import OrgConfig


@dataclass(frozen=True)
class Route:
    primary: tuple[str, ...]
    informed: tuple[str, ...]
    # The coordinators receive the case card themselves: a conflict of interest was declared.
    coordinators: bool

    @property
    def divisions(self) -> tuple[str, ...]:
        return self.primary + self.informed


def route_report(
    cfg: OrgConfig, *, report_type: str, concerns_personnel: str, named_division: str | None
) -> Route:
    rule = next(
        r for r in cfg.routing if r.report_type == report_type and concerns_personnel in r.concerns_personnel
    )
    if named_division is None or named_division not in rule.primary + rule.informed:
        return Route(tuple(rule.primary), tuple(rule.informed), coordinators=False)
    # A report about a division never goes to that division; the rule's other divisions
    # take it and the coordinators see it (DESIGN.md, conflict of interest).
    primary = tuple(c for c in rule.primary if c != named_division)
    informed = tuple(c for c in rule.informed if c != named_division)
    if not primary:
        primary, informed = informed, ()
    return Route(primary, informed, coordinators=True)
