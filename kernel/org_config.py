"""An organisation's configuration: divisions, routing rules, categories, deadlines, the plan and
privacy, each checked field by field and against each other (kernel.org_files reads the files)."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kernel.deadlines import OfficeHours

ReportType = Literal["corruption", "grievance", "information"]
Concern = Literal["yes", "no", "unsure"]
REPORT_TYPES: tuple[ReportType, ...] = ("corruption", "grievance", "information")
CONCERNS: tuple[Concern, ...] = ("yes", "no", "unsure")
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
ORG_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")


def check_code(v: str) -> str:
    """Division and category codes: short ASCII, since they travel in button data (Telegram allows
    64 bytes) and in 20- to 30-character columns."""
    if not CODE_RE.match(v):
        raise ValueError("must be 1-20 lower-case letters, digits or _, starting with a letter")
    return v


OFFICE_HOURS = re.compile(r"((?:[01]\d|2[0-3]):[0-5]\d)-((?:[01]\d|2[0-3]):[0-5]\d)")


class ConfigError(ValueError):
    """An organisation file is unusable; `problems` name each field with a hint."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}:\n" + "\n".join(f"  - {p}" for p in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Division(_Strict):
    code: str
    name_th: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    # besides its names, what a citizen calls it ("กองช่าง"): a report naming it suggests it
    keywords_th: list[str] = Field(default_factory=list)
    keywords_en: list[str] = Field(default_factory=list)

    _code = field_validator("code")(classmethod(lambda cls, v: check_code(v)))

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_th


class Category(_Strict):
    code: str
    th: str = Field(min_length=1)
    en: str = Field(min_length=1)
    # words that suggest this category in a report written in the citizen's own words
    keywords_th: list[str] = Field(default_factory=list)
    keywords_en: list[str] = Field(default_factory=list)

    _code = field_validator("code")(classmethod(lambda cls, v: check_code(v)))

    def label(self, lang: str) -> str:
        return self.en if lang == "en" else self.th


class RoutingRule(_Strict):
    report_type: ReportType
    concerns_personnel: list[Concern] = Field(min_length=1)
    primary: list[str] = Field(min_length=1)
    informed: list[str] = Field(default_factory=list)


class Categories(_Strict):
    corruption: list[Category] = Field(min_length=1)
    grievance: list[Category] = Field(min_length=1)
    information: list[Category] = Field(min_length=1)

    def for_type(self, report_type: str) -> list[Category]:
        items: list[Category] = getattr(self, report_type)
        return items


class TriageWords(_Strict):
    """Words that suggest a report's type, and that it concerns the organisation's personnel, when
    a citizen writes in their own words (kernel/triage.py); the categories carry their own."""

    corruption_th: list[str] = Field(default_factory=list)
    corruption_en: list[str] = Field(default_factory=list)
    grievance_th: list[str] = Field(default_factory=list)
    grievance_en: list[str] = Field(default_factory=list)
    information_th: list[str] = Field(default_factory=list)
    information_en: list[str] = Field(default_factory=list)
    personnel_th: list[str] = Field(default_factory=list)
    personnel_en: list[str] = Field(default_factory=list)

    def cues(self, report_type: str) -> list[str]:
        th: list[str] = getattr(self, f"{report_type}_th")
        en: list[str] = getattr(self, f"{report_type}_en")
        return [*th, *en]


class Deadlines(_Strict):
    acknowledge_working_days: int = Field(default=1, ge=0, le=30)
    reply_days: int = Field(default=15, ge=1, le=365)
    update_every_days: int = Field(default=15, ge=1, le=365)
    # staff chats are reminded this long before a deadline, then every day after it
    remind_before_hours: int = Field(default=24, ge=1, le=24 * 14)
    # local time of the coordinators' daily digest of overdue cases
    digest_hour: int = Field(default=8, ge=0, le=23)
    holidays: list[date] = Field(default_factory=list)
    # local opening hours of working days: deadlines end at the close, reminders go while open
    office_hours: str = "08:30-16:30"

    @field_validator("office_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        found = OFFICE_HOURS.fullmatch(value.strip())
        if found is None or not time.fromisoformat(found[1]) < time.fromisoformat(found[2]):
            raise ValueError(
                "office_hours must be HH:MM-HH:MM, opening before closing, e.g. 08:30-16:30 "
                f"(it is {value!r})"
            )
        return value.strip()

    @property
    def opens(self) -> time:
        return time.fromisoformat(self.office_hours.split("-")[0])

    @property
    def closes(self) -> time:
        return time.fromisoformat(self.office_hours.split("-")[1])


class IntakeLimits(_Strict):
    description_min_chars: int = Field(default=15, ge=1)
    description_max_chars: int = Field(default=3000, le=4000)
    detail_max_chars: int = Field(default=500, ge=10, le=4000)
    max_files: int = Field(default=5, ge=0, le=10)
    max_file_mb: int = Field(default=20, ge=1, le=20)  # the Bot API serves at most 20 MB

    @model_validator(mode="after")
    def _range(self) -> IntakeLimits:
        if self.description_min_chars > self.description_max_chars:
            raise ValueError("description_min_chars is larger than description_max_chars")
        return self


class Dimension(_Strict):
    number: int = Field(ge=1, le=9)
    th: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def name(self, lang: str) -> str:
        return self.en if lang == "en" else self.th


MONTH_DAY_RE = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")


class PlanConfig(_Strict):
    """The action plan's edition: its dimensions, round due dates and reminder schedule."""

    edition: str = ""
    dimensions: list[Dimension] = Field(min_length=1)
    # due dates as MM-DD in the calendar year the round's period ends (31 March, 30 September)
    due_6m: str = "04-10"
    due_12m: str = "10-10"
    reminder_offsets_days: list[int] = Field(default_factory=lambda: [14, 7, 3, 1, 0])
    reminder_hour: int = Field(default=9, ge=0, le=23)
    # after the due date, divisions are chased daily for this many days
    overdue_days: int = Field(default=30, ge=0, le=180)

    @field_validator("due_6m", "due_12m")
    @classmethod
    def _month_day(cls, v: str) -> str:
        if not MONTH_DAY_RE.match(v):
            raise ValueError("must be MM-DD, for example 04-10")
        return v

    @field_validator("reminder_offsets_days")
    @classmethod
    def _offsets(cls, v: list[int]) -> list[int]:
        if any(d < 0 or d > 60 for d in v):
            raise ValueError("offsets are days before the due date, 0 to 60")
        return sorted(set(v), reverse=True)

    @model_validator(mode="after")
    def _after_period(self) -> PlanConfig:
        if self.due_6m < "04-01":
            raise ValueError("due_6m must fall after the 6-month period ends on 31 March")
        if self.due_12m < "10-01":
            raise ValueError("due_12m must fall after the 12-month period ends on 30 September")
        numbers = [d.number for d in self.dimensions]
        if len(numbers) != len(set(numbers)):
            raise ValueError("dimension numbers repeat")
        return self

    def dimension(self, number: int) -> Dimension:
        return next(d for d in self.dimensions if d.number == number)


class PrivacyConfig(_Strict):
    """PDPA: how long a closed case keeps its reporter's personal data, and abuse limits."""

    retention_days: int = Field(default=5 * 365, ge=30, le=20 * 365)
    max_reports_per_day: int = Field(default=5, ge=1, le=100)


class OpenDataConfig(_Strict):
    """What Open311 publishes of a grievance besides its category, status and times: its description
    and the place the reporter shared. Off unless the organisation decides (their words may name people)."""

    grievance_descriptions: bool = False
    grievance_locations: bool = False


class DeskConfig(_Strict):
    """The web desk: the roles that must add a one-time code from an authenticator app."""

    require_totp_for: list[Literal["staff", "coordinator", "admin", "province_coordinator"]] = []


class OrgConfig(_Strict):
    code: str
    name_th: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    centre_name_th: str = ""
    centre_name_en: str = ""
    timezone: str = "Asia/Bangkok"
    general_grievance_division: str
    divisions: list[Division] = Field(min_length=1)
    routing: list[RoutingRule] = Field(min_length=1)
    categories: Categories
    triage: TriageWords = TriageWords()
    deadlines: Deadlines = Deadlines()
    intake: IntakeLimits = IntakeLimits()
    plan: PlanConfig
    privacy: PrivacyConfig = PrivacyConfig()
    desk: DeskConfig = DeskConfig()
    open_data: OpenDataConfig = OpenDataConfig()

    @field_validator("code")
    @classmethod
    def _org_code(cls, v: str) -> str:
        if not ORG_CODE_RE.match(v):
            raise ValueError("must be 2-10 upper-case letters or digits, starting with a letter")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _references(self) -> OrgConfig:
        problems = _cross_check(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def division(self, code: str) -> Division:
        for d in self.divisions:
            if d.code == code:
                return d
        raise KeyError(code)

    def division_codes(self) -> list[str]:
        return [d.code for d in self.divisions]

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_th

    def centre_name(self, lang: str) -> str:
        if lang == "en":
            return self.centre_name_en or self.name_en
        return self.centre_name_th or self.name_th

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def office(self) -> OfficeHours:
        d = self.deadlines
        return OfficeHours(d.opens, d.closes, self.tz(), frozenset(d.holidays))


def _cross_check(cfg: OrgConfig) -> list[str]:
    known = cfg.division_codes()
    hint = f"known divisions are {', '.join(known)}"
    problems: list[str] = []
    seen: set[str] = set()
    for i, d in enumerate(cfg.divisions):
        if d.code in seen:
            problems.append(f"divisions[{i}].code: {d.code!r} appears twice (hint: codes are unique)")
        seen.add(d.code)
    if cfg.general_grievance_division not in known:
        problems.append(
            f"general_grievance_division: unknown division {cfg.general_grievance_division!r} (hint: {hint})"
        )
    covered: dict[tuple[str, str], int] = {}
    for i, rule in enumerate(cfg.routing):
        for field in ("primary", "informed"):
            for j, code in enumerate(getattr(rule, field)):
                if code not in known:
                    problems.append(f"routing[{i}].{field}[{j}]: unknown division {code!r} (hint: {hint})")
        if rule.report_type == "corruption" and cfg.general_grievance_division in (
            rule.primary + rule.informed
        ):
            problems.append(
                f"routing[{i}]: corruption tip-offs must not go to the general grievance division "
                f"{cfg.general_grievance_division!r} (hint: route them to a separate division, "
                "for example legal)"
            )
        for concern in rule.concerns_personnel:
            key = (rule.report_type, concern)
            if key in covered:
                problems.append(
                    f"routing[{i}]: {rule.report_type}/{concern} is already routed by "
                    f"routing[{covered[key]}] (hint: each report type and answer needs one rule)"
                )
            covered[key] = i
    for rt in REPORT_TYPES:
        for concern in CONCERNS:
            if (rt, concern) not in covered:
                problems.append(
                    f"routing: no rule for report_type={rt!r} with concerns_personnel={concern!r} "
                    "(hint: add it to a [[routing]] table's concerns_personnel)"
                )
    for rt in REPORT_TYPES:
        codes = [c.code for c in cfg.categories.for_type(rt)]
        if len(codes) != len(set(codes)):
            problems.append(f"categories.{rt}: category codes repeat (hint: codes are unique)")
    return problems
