"""Button data: what a press carries, as types, with one parser and one writer.

Telegram limits callback data to 64 bytes and LINE postback data to 300, so a press names only a
case, an item or a choice, never a permission: every press is authorised again on the server.
Each type's `data` is what the button carries, and `parse(press.data) == press`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ROUNDS = ("6m", "12m")
ReporterChoice = Literal["add", "wd", "wdy", "wdn", "rate"]
_REPORTER_CHOICES: tuple[ReporterChoice, ...] = ("add", "wd", "wdy", "wdn", "rate")


@dataclass(frozen=True)
class StaffPress:
    """An action button on a case card (`s.<action>.<case>`); a transfer names the division chosen,
    a change of category the category (`s.xfer.<case>.<division>`, `s.cat.<case>.<category>`)."""

    action: str
    case_id: int
    choice: str | None = None

    @property
    def data(self) -> str:
        if self.choice is not None:
            return f"s.{_CHOOSING[self.action]}.{self.case_id}.{self.choice}"
        return f"s.{self.action}.{self.case_id}"


# the actions whose button carries a choice, by the short name their callback data uses
_CHOOSING = {"transfer": "xfer", "recategorise": "cat"}
_CHOSEN = {short: action for action, short in _CHOOSING.items()}


@dataclass(frozen=True)
class StaffCancel:
    """Cancel the case action that waits for a note."""

    @property
    def data(self) -> str:
        return "s.cancel.0"


@dataclass(frozen=True)
class ReporterPress:
    """The reporter's buttons on their own case: add information, withdraw (ask, yes, no), rate."""

    choice: ReporterChoice
    case_id: int
    score: int | None = None  # 1 to 5, with "rate"

    @property
    def data(self) -> str:
        tail = f".{self.score}" if self.score is not None else ""
        return f"c.{self.choice}.{self.case_id}{tail}"


@dataclass(frozen=True)
class ProgressDone:
    """Done with the note and evidence of a progress report."""

    @property
    def data(self) -> str:
        return "p.x.0"


@dataclass(frozen=True)
class ProgressList:
    """The plan items of a round, to report on."""

    fiscal_year: int
    round: str

    @property
    def data(self) -> str:
        return f"p.l.{self.fiscal_year}.{self.round}"


@dataclass(frozen=True)
class ProgressItem:
    """One plan item of a round: choose its status."""

    item_id: int
    fiscal_year: int
    round: str

    @property
    def data(self) -> str:
        return f"p.i.{self.item_id}.{self.fiscal_year}.{self.round}"


@dataclass(frozen=True)
class ProgressStatus:
    """The status chosen for a plan item in a round (a short code, see handlers/plan/progress.py)."""

    item_id: int
    fiscal_year: int
    round: str
    status: str

    @property
    def data(self) -> str:
        return f"p.s.{self.item_id}.{self.fiscal_year}.{self.round}.{self.status}"


@dataclass(frozen=True)
class MenuPress:
    """A persistent menu's button (LINE's rich menu): works from any step."""

    choice: str

    @property
    def data(self) -> str:
        return f"m.{self.choice}"


@dataclass(frozen=True)
class LanguagePress:
    lang: str

    @property
    def data(self) -> str:
        return f"L.{self.lang}"


@dataclass(frozen=True)
class ErasePress:
    """The reporter asks to erase their data (after /mydata)."""

    @property
    def data(self) -> str:
        return "x.erase"


@dataclass(frozen=True)
class StepPress:
    """An answer to the current step's question; the prompt number tells a press on an old message."""

    prompt_no: int
    value: str

    @property
    def data(self) -> str:
        return f"{self.prompt_no}.{self.value}"


@dataclass(frozen=True)
class PagePress:
    """The next page of a long list of buttons (LINE shows at most 13 quick replies at once)."""

    page: int

    @property
    def data(self) -> str:
        return f"lp.{self.page}"


@dataclass(frozen=True)
class Unreadable:
    """Data no button of ours carries (an old version's button, or forged): answered as stale."""

    raw: str

    @property
    def data(self) -> str:
        return self.raw


Press = (
    StaffPress | StaffCancel | ReporterPress | ProgressDone | ProgressList | ProgressItem | ProgressStatus
    | MenuPress | LanguagePress | ErasePress | StepPress | PagePress | Unreadable
)  # fmt: skip


def _number(text: str) -> bool:
    """An id or a count a button may carry: ASCII digits, at most 12 (a forged "9" * 23 would not fit
    a database integer, and "²" is a digit int() cannot read)."""
    return text.isascii() and text.isdigit() and len(text) <= 12


def parse(data: str) -> Press:
    head, _, rest = data.partition(".")
    parts = rest.split(".")
    if head == "s":
        return _staff(parts) or Unreadable(data)
    if head == "c":
        return _reporter(parts) or Unreadable(data)
    if head == "p":
        return _progress(parts) or Unreadable(data)
    if head == "m" and rest:
        return MenuPress(rest)
    if head == "L" and rest:
        return LanguagePress(rest)
    if data == "x.erase":
        return ErasePress()
    if head == "lp" and _number(rest):
        return PagePress(int(rest))
    if _number(head) and rest:
        return StepPress(int(head), rest)
    return Unreadable(data)


def _staff(parts: list[str]) -> StaffPress | StaffCancel | None:
    if parts == ["cancel", "0"]:
        return StaffCancel()
    if len(parts) == 3 and parts[0] in _CHOSEN and _number(parts[1]) and parts[2]:
        return StaffPress(_CHOSEN[parts[0]], int(parts[1]), parts[2])
    if len(parts) == 2 and parts[0] and parts[0] not in _CHOSEN and _number(parts[1]):
        return StaffPress(parts[0], int(parts[1]))
    return None


def _reporter(parts: list[str]) -> ReporterPress | None:
    choice = next((c for c in _REPORTER_CHOICES if parts[0] == c), None)
    if choice is None or len(parts) < 2 or not _number(parts[1]):
        return None
    if choice == "rate":
        if len(parts) == 3 and parts[2] in ("1", "2", "3", "4", "5"):
            return ReporterPress(choice, int(parts[1]), int(parts[2]))
        return None
    return ReporterPress(choice, int(parts[1])) if len(parts) == 2 else None


def _progress(parts: list[str]) -> ProgressDone | ProgressList | ProgressItem | ProgressStatus | None:
    kind, args = parts[0], parts[1:]
    if kind == "x":
        return ProgressDone()
    if kind == "l" and len(args) == 2 and _number(args[0]) and args[1] in ROUNDS:
        return ProgressList(int(args[0]), args[1])
    if kind not in ("i", "s") or len(args) < 3:
        return None
    item, year, round_name = args[:3]
    if not (_number(item) and _number(year) and round_name in ROUNDS):
        return None
    if kind == "i" and len(args) == 3:
        return ProgressItem(int(item), int(year), round_name)
    if kind == "s" and len(args) == 4 and args[3]:
        return ProgressStatus(int(item), int(year), round_name, args[3])
    return None
