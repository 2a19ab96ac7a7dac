"""Routing follows DESIGN.md's table and the conflict-of-interest rule (seed policies 1.5, 7.2, 7.3)."""

import pytest

from kernel.org_files import load_organisations
from kernel.routing import Route, route_report

CM = load_organisations("").single
assert CM is not None


@pytest.mark.parametrize(
    ("report_type", "concerns", "primary", "informed"),
    [
        ("corruption", "yes", ("personnel",), ("legal",)),
        ("corruption", "no", ("legal",), ()),
        ("corruption", "unsure", ("legal",), ()),
        ("grievance", "yes", ("personnel",), ()),
        ("grievance", "no", ("office",), ()),
        ("grievance", "unsure", ("office",), ()),
        ("information", "no", ("office",), ()),
    ],
)
def test_design_routing_table(report_type: str, concerns: str, primary: tuple, informed: tuple) -> None:
    route = route_report(CM, report_type=report_type, concerns_personnel=concerns, named_division=None)
    assert route == Route(primary, informed, coordinators=False)


def test_naming_an_uninvolved_division_changes_nothing() -> None:
    route = route_report(CM, report_type="grievance", concerns_personnel="no", named_division="finance")
    assert route == Route(("office",), (), coordinators=False)


def test_tip_about_personnel_division_goes_to_legal_and_coordinators_never_to_personnel() -> None:
    route = route_report(CM, report_type="corruption", concerns_personnel="yes", named_division="personnel")
    assert route == Route(("legal",), (), coordinators=True)
    assert "personnel" not in route.divisions
    assert "office" not in route.divisions  # never the general grievance chat


def test_tip_about_legal_section_keeps_personnel_and_drops_legal() -> None:
    route = route_report(CM, report_type="corruption", concerns_personnel="yes", named_division="legal")
    assert route == Route(("personnel",), (), coordinators=True)


def test_no_division_left_goes_to_coordinators_only() -> None:
    route = route_report(CM, report_type="corruption", concerns_personnel="no", named_division="legal")
    assert route == Route((), (), coordinators=True)
    grievance = route_report(CM, report_type="grievance", concerns_personnel="no", named_division="office")
    assert grievance == Route((), (), coordinators=True)
