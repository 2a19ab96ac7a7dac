"""The suggestion from a citizen's own words (issue 15): the shipped Chiang Mai PAO rules on a
labelled set of reports written for these tests (tests/data/triage_reports.tsv, Thai and English,
every type and category), and the `damrongtham triage` command."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from kernel.org_files import load_organisations
from kernel.triage import Triage

REPORTS = Path(__file__).parent.parent / "data" / "triage_reports.tsv"


def _reports() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in REPORTS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            report_type, category, personnel, text = line.split("\t")
            rows.append((report_type, category, personnel, text))
    return rows


@pytest.fixture(scope="module")
def triage() -> Triage:
    org = load_organisations("").single
    assert org is not None
    return Triage(org)


def test_the_labelled_set_covers_every_type_and_category_in_both_languages() -> None:
    rows = _reports()
    org = load_organisations("").single
    assert org is not None
    assert len(rows) >= 150
    labelled = {(t, c) for t, c, _p, _text in rows}
    for report_type in ("corruption", "grievance", "information"):
        for category in org.categories.for_type(report_type):
            assert (report_type, category.code) in labelled
    english = sum(1 for *_, text in rows if text.isascii())
    assert 30 <= english <= len(rows) - 100


def test_the_shipped_rules_reach_90_percent_on_type_and_75_on_category(triage: Triage) -> None:
    rows = _reports()
    types = categories = personnel = 0
    wrong: Counter[str] = Counter()
    for report_type, category, concerns, text in rows:
        suggestion = triage.suggest(text)
        types += suggestion.report_type == report_type
        right = suggestion.report_type == report_type and suggestion.category == category
        categories += right
        personnel += suggestion.concerns_personnel == concerns
        if not right:
            wrong[f"{report_type}.{category} -> {suggestion.report_type}.{suggestion.category}"] += 1
    n = len(rows)
    figures = f"type {types / n:.1%}, category {categories / n:.1%}, personnel {personnel / n:.1%} of {n}"
    assert types / n >= 0.90, (figures, wrong.most_common(10))
    assert categories / n >= 0.75, (figures, wrong.most_common(10))


def test_a_suggestion_names_the_division_and_the_personnel_it_is_about(triage: Triage) -> None:
    tip = triage.suggest("นายช่างกองช่างเรียกเงินใต้โต๊ะจากผู้รับเหมา")
    assert (tip.report_type, tip.category, tip.concerns_personnel, tip.division) == (
        "corruption", "bribery", "yes", "engineering",
    )  # fmt: skip
    assert 0 < tip.confidence <= 1
    road = triage.suggest("The road to our village is full of potholes")
    assert (road.report_type, road.category, road.concerns_personnel, road.division) == (
        "grievance", "roads", "no", None,
    )  # fmt: skip
    nothing = triage.suggest("สวัสดีครับ")
    assert nothing.confidence == 0 and nothing.category == "other"


def test_triage_prints_one_json_object_per_line() -> None:
    runner = CliRunner()
    one = runner.invoke(app, ["triage", "ขอสำเนาสัญญาจ้างก่อสร้างถนน พร้อมราคากลาง"])
    assert one.exit_code == 0, one.output
    answer = json.loads(one.output)
    assert answer == {
        "type": "information", "category": "procurement", "concerns_personnel": "no", "division": None,
        "confidence": answer["confidence"],
    }  # fmt: skip
    many = runner.invoke(app, ["triage", "--org", "CM"], input="ถนนพัง\n\nเจ้าหน้าที่เรียกสินบน\n")
    lines = [json.loads(line) for line in many.output.splitlines()]
    assert [(x["type"], x["category"]) for x in lines] == [("grievance", "roads"), ("corruption", "bribery")]
    unknown = runner.invoke(app, ["triage", "--org", "XX", "ถนนพัง"])
    assert unknown.exit_code == 2 and "CM" in unknown.output
