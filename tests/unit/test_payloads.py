"""Button data: every press type reads back as itself; anything else is unreadable, never a crash."""

from __future__ import annotations

import pytest

from kernel import payloads as p

PRESSES: list[p.Press] = [
    p.StaffPress("accept", 12),
    p.StaffPress("transfer", 12, "legal"),
    p.StaffPress("recategorise", 12, "procurement"),
    p.StaffCancel(),
    p.ReporterPress("add", 3),
    p.ReporterPress("wdy", 3),
    p.ReporterPress("rate", 3, 5),
    p.ProgressDone(),
    p.ProgressList(2569, "6m"),
    p.ProgressItem(40, 2569, "12m"),
    p.ProgressStatus(40, 2569, "12m", "d"),
    p.MenuPress("track"),
    p.LanguagePress("en"),
    p.ErasePress(),
    p.StepPress(7, "t:corruption"),
    p.StepPress(7, "c:bribe.2"),
    p.PagePress(2),
]


@pytest.mark.parametrize("press", PRESSES, ids=lambda press: press.data)
def test_each_press_reads_back_as_itself(press: p.Press) -> None:
    assert p.parse(press.data) == press


@pytest.mark.parametrize(
    "data",
    ["", ".", "s.", "s.accept", "s.accept.x", "s.xfer.3", "s.xfer.x.legal", "c.rate.3", "c.rate.3.9",
     "c.steal.3", "c.add.3.4", "p.l.2569.9m", "p.i.x.2569.6m", "p.s.4.2569.6m", "m.", "L.", "x.other",
     "7.", "abc", "lp.", "lp.x",
     # security review D10: numbers no id has (they overflowed SQLite's integers) or not ASCII digits
     "s.accept.99999999999999999999999", "c.wdy.99999999999999999999999", "s.accept.²", "c.add.٣",
     "p.l.99999999999999999999999.6m", "lp.99999999999999999999999", "99999999999999999999999.x"],
)  # fmt: skip
def test_data_no_button_carries_is_unreadable(data: str) -> None:
    assert p.parse(data) == p.Unreadable(data)
