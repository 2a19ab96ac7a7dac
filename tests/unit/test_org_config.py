"""Organisation files are validated on load; every mistake names its field with a hint."""

import tomllib
from pathlib import Path

import pytest
import tomli_w

from kernel.org_config import ConfigError
from kernel.org_files import default_config_path, load_org_file, load_organisations


def _default() -> dict:
    return tomllib.loads(default_config_path().read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict, name: str = "org.toml") -> Path:
    path = tmp_path / name
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


def test_shipped_file_reproduces_design_divisions() -> None:
    org = load_organisations("").single
    assert org is not None and org.code == "CM"
    assert {"office", "legal", "personnel", "procurement", "finance", "audit"} <= set(org.division_codes())
    assert org.division("office").name_th.startswith("สำนักปลัด")
    assert "ฝ่ายนิติการและการพาณิชย์" in org.division("legal").name_th
    assert "กองการเจ้าหน้าที่" in org.division("personnel").name_th
    assert org.deadlines.acknowledge_working_days == 1 and org.deadlines.reply_days == 15


def test_unknown_division_in_routing_names_field_and_known_codes(tmp_path: Path) -> None:
    data = _default()
    data["routing"][0]["primary"] = ["persnnel"]
    with pytest.raises(ConfigError) as err:
        load_org_file(_write(tmp_path, data))
    text = str(err.value)
    assert "routing[0].primary[0]" in text and "'persnnel'" in text
    assert "hint: known divisions are office, legal, personnel" in text


def test_missing_and_misspelt_fields_are_named(tmp_path: Path) -> None:
    data = _default()
    del data["name_th"]
    data["divisions"][1]["nme_en"] = "typo"
    data["routing"][1]["report_type"] = "corupt"
    with pytest.raises(ConfigError) as err:
        load_org_file(_write(tmp_path, data))
    problems = "\n".join(err.value.problems)
    assert "name_th: is required (hint: add this field)" in problems
    assert "divisions[1].nme_en: is not a known field (hint: check the spelling)" in problems
    assert "routing[1].report_type" in problems


def test_corruption_may_not_route_to_general_grievance_division(tmp_path: Path) -> None:
    data = _default()
    data["routing"][1]["informed"] = ["office"]
    with pytest.raises(ConfigError, match="must not go to the general grievance division"):
        load_org_file(_write(tmp_path, data))


def test_every_report_type_and_answer_needs_a_rule(tmp_path: Path) -> None:
    data = _default()
    data["routing"][3]["concerns_personnel"] = ["no"]
    with pytest.raises(
        ConfigError, match="no rule for report_type='grievance' with concerns_personnel='unsure'"
    ):
        load_org_file(_write(tmp_path, data))


def test_bad_toml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("code = 'CM\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_org_file(path)


def test_several_organisations_from_a_folder(tmp_path: Path) -> None:
    data = _default()
    _write(tmp_path, data, "cm.toml")
    data["code"], data["name_en"] = "LPN", "Lamphun PAO"
    _write(tmp_path, data, "lpn.toml")
    orgs = load_organisations(str(tmp_path))
    assert [o.code for o in orgs.all] == ["CM", "LPN"] and orgs.single is None
    assert orgs.get("lpn") is not None


def test_duplicate_organisation_codes_are_refused(tmp_path: Path) -> None:
    data = _default()
    _write(tmp_path, data, "a.toml")
    _write(tmp_path, data, "b.toml")
    with pytest.raises(ConfigError, match="CM used by more than one file"):
        load_organisations(str(tmp_path))


def test_category_codes_must_be_short_ascii(tmp_path: Path) -> None:
    data = _default()
    data["categories"]["grievance"][0]["code"] = "ถนน"
    with pytest.raises(ConfigError, match=r"categories\.grievance\[0\]\.code"):
        load_org_file(_write(tmp_path, data))
