"""The command line, run in-process with Typer's runner on a fresh data folder."""

from __future__ import annotations

import re
import tomllib

import tomli_w
from typer.testing import CliRunner

from bot.cli import app
from kernel.org_files import default_config_path

runner = CliRunner()


def test_run_without_token_names_the_setting_and_points_to_console() -> None:
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2
    assert "TELEGRAM_BOT_TOKEN" in result.output and "damrongtham console" in result.output


def test_config_check_accepts_the_shipped_file_and_names_mistakes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ok = runner.invoke(app, ["config", "check"])
    assert ok.exit_code == 0 and "OK CM" in ok.output
    data = tomllib.loads(default_config_path().read_text(encoding="utf-8"))
    data["routing"][0]["primary"] = ["nobody"]
    bad = tmp_path / "bad.toml"
    bad.write_text(tomli_w.dumps(data))
    result = runner.invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert "routing[0].primary[0]: unknown division 'nobody'" in result.output
    assert "hint:" in result.output


def test_db_upgrade_then_bind_and_list_divisions() -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    bound = runner.invoke(app, ["division", "bind", "legal", "--channel", "telegram", "--chat-id", "-100555"])
    assert bound.exit_code == 0, bound.output
    assert "Bound division:legal of CM to telegram chat -100555" in bound.output
    coordinators = runner.invoke(app, ["coordinators", "bind", "--chat-id", "-100777"])
    assert coordinators.exit_code == 0, coordinators.output
    listed = runner.invoke(app, ["division", "list"])
    assert listed.exit_code == 0
    line = next(ln for ln in listed.output.splitlines() if ln.strip().startswith("legal"))
    assert "telegram:-100555" in line
    assert "telegram:-100777" in next(ln for ln in listed.output.splitlines() if "coordinators" in ln)
    assert "(no chat bound)" in next(
        ln for ln in listed.output.splitlines() if ln.strip().startswith("office")
    )


def test_one_chat_cannot_take_both_general_grievances_and_corruption_tips() -> None:
    assert runner.invoke(app, ["division", "bind", "office", "--chat-id", "-100900"]).exit_code == 0
    refused = runner.invoke(app, ["division", "bind", "legal", "--chat-id", "-100900"])
    assert refused.exit_code == 2 and "Corruption tip-offs need a chat of their own" in refused.output
    refused = runner.invoke(app, ["division", "bind", "personnel", "--chat-id", "-100900"])
    assert refused.exit_code == 2


def test_unknown_division_is_refused_with_the_known_codes() -> None:
    result = runner.invoke(app, ["division", "bind", "legl", "--chat-id", "-1"])
    assert result.exit_code == 2 and "known: office, legal, personnel" in result.output


def test_console_runs_a_conversation_from_standard_input() -> None:
    result = runner.invoke(app, ["console"], input="/start\n2\n2\n")
    assert result.exit_code == 0, result.output
    assert "กรุณาเลือกเรื่องที่ต้องการแจ้ง" in result.output
    assert "เกี่ยวข้องกับบุคลากร" in result.output and "ส่วนราชการใด" in result.output


def test_production_refuses_to_start_without_a_secret_key(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DAMRONGTHAM_ENV", "production")
    monkeypatch.setenv("DAMRONGTHAM_SECRET_KEY", "change-me")
    result = runner.invoke(app, ["console"], input="")
    assert result.exit_code == 2 and "DAMRONGTHAM_SECRET_KEY" in result.output


def test_development_key_is_generated_once_and_reused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.settings import Settings

    first = Settings().resolved_secret_key()
    assert (tmp_path / "data" / "secret.key").exists()
    assert Settings().resolved_secret_key() == first


def test_secret_generate_prints_a_usable_key() -> None:
    from cryptography.fernet import Fernet

    result = runner.invoke(app, ["secret", "generate"])
    assert result.exit_code == 0
    key, newline = result.output[:-1], result.output[-1:]
    assert newline == "\n" and re.fullmatch(r"[A-Za-z0-9_-]{43}=", key), result.output
    token = Fernet(key.encode()).encrypt(b"probe")
    assert Fernet(key.encode()).decrypt(token) == b"probe"
    assert runner.invoke(app, ["secret", "generate"]).output != result.output  # a new key each time


def test_settings_names_and_defaults(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.settings import Settings

    monkeypatch.delenv("DAMRONGTHAM_DATA_DIR")
    settings = Settings()
    assert settings.resolved_database_url() == "sqlite+aiosqlite:///data/damrongtham.sqlite3"
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert settings.telegram_file_base_url == "https://api.telegram.org/file/bot"
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=from-dotenv\nDATABASE_URL=sqlite+aiosqlite:///x.db\n")
    monkeypatch.setenv("DAMRONGTHAM_CONFIG", "/etc/orgs")
    settings = Settings()
    assert (
        settings.telegram_bot_token == "from-dotenv" and settings.database_url == "sqlite+aiosqlite:///x.db"
    )
    assert settings.config_path == "/etc/orgs"


def test_audit_verify_reports_an_intact_and_a_broken_chain() -> None:
    import sqlite3

    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "Audit chain intact: 0 events" in ok.output
    con = sqlite3.connect("data/damrongtham.sqlite3")
    con.execute("UPDATE audit_head SET length = 1")
    con.commit()
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 2 and "BROKEN at event 1" in broken.output


def test_audit_verify_checks_the_chain_against_a_head_taken_outside() -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    zero = "0:" + "0" * 64
    ok = runner.invoke(app, ["audit", "verify", "--head", zero])
    assert ok.exit_code == 0 and f"its head is {zero}" in ok.output and "leads to the head given" in ok.output
    ahead = runner.invoke(app, ["audit", "verify", "--head", "5:" + "ab" * 32])
    assert ahead.exit_code == 2 and "BROKEN" in ahead.output and "removed" in ahead.output
    wrong = runner.invoke(app, ["audit", "verify", "--head", "abc"])
    assert wrong.exit_code == 2 and "LENGTH:HASH" in wrong.output


def test_coordinators_may_not_share_the_general_grievance_chat() -> None:
    """Coordinators receive conflict-of-interest tip-offs: their chat is a corruption chat too."""
    assert runner.invoke(app, ["division", "bind", "office", "--chat-id", "-100901"]).exit_code == 0
    refused = runner.invoke(app, ["coordinators", "bind", "--chat-id", "-100901"])
    assert refused.exit_code == 2 and "chat of their own" in refused.output


def test_staff_add_list_remove_and_invite_codes() -> None:
    added = runner.invoke(
        app, ["staff", "add", "--user-id", "501", "--division", "personnel", "--name", "สมศรี"]
    )
    assert added.exit_code == 0, added.output
    coordinator = runner.invoke(app, ["staff", "add", "--user-id", "900", "--role", "coordinator"])
    assert coordinator.exit_code == 0, coordinator.output
    listed = runner.invoke(app, ["staff", "list"]).output
    assert "telegram:501  staff       active   personnel  สมศรี" in listed
    assert "telegram:900  coordinator active" in listed
    assert runner.invoke(app, ["staff", "remove", "--user-id", "501"]).exit_code == 0
    assert "removed" in next(
        ln for ln in runner.invoke(app, ["staff", "list"]).output.splitlines() if "501" in ln
    )
    assert runner.invoke(app, ["staff", "remove", "--user-id", "501"]).exit_code == 2
    no_division = runner.invoke(app, ["staff", "add", "--user-id", "502"])
    assert no_division.exit_code == 2 and "--division" in no_division.output
    invite = runner.invoke(app, ["staff", "invite", "--division", "finance"])
    assert invite.exit_code == 0 and "/join " in invite.output
    bind = runner.invoke(app, ["division", "bind-code", "finance"])
    assert bind.exit_code == 0 and "/bind " in bind.output


def test_privacy_purge_dry_run_changes_nothing() -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["privacy", "purge", "--dry-run"])
    assert result.exit_code == 0 and "0 case(s): personal data would be erased." in result.output
    assert "0 case(s): personal data erased." in runner.invoke(app, ["privacy", "purge"]).output


def test_the_console_keeps_its_log_lines_in_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["console"], input="/start\n1\n")
    assert result.exit_code == 0, result.output
    assert " INFO " not in result.output  # the conversation has the screen to itself
    log = (tmp_path / "data" / "console.log").read_text(encoding="utf-8")
    assert "INFO bot.cli.setup: console chat started" in log
    assert "WARNING" in log and "WARNING" in result.output  # a warning reaches both


def test_cases_reindex_runs_on_an_empty_database() -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["cases", "reindex"])
    assert result.exit_code == 0 and "Indexed the words of 0 case(s)." in result.output


def test_a_chat_id_must_look_like_one_of_its_channel() -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    refused = runner.invoke(app, ["division", "bind", "legal", "--chat-id", "abc"])
    assert (
        refused.exit_code == 2
        and "'abc' is not a telegram chat id (such as -1001234567890)" in refused.output
    )
    line = runner.invoke(app, ["division", "bind", "legal", "--channel", "line", "--chat-id", "-100555"])
    assert line.exit_code == 2 and "is not a line chat id" in line.output
    group = "C" + "0123456789abcdef" * 2
    bound = runner.invoke(app, ["division", "bind", "legal", "--channel", "line", "--chat-id", group])
    assert bound.exit_code == 0, bound.output


def test_an_empty_staff_list_says_how_to_add_someone() -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    listed = runner.invoke(app, ["staff", "list"])
    assert listed.exit_code == 0 and "No staff in CM yet" in listed.output and "staff invite" in listed.output


def test_db_upgrade_says_what_it_did() -> None:
    created = runner.invoke(app, ["db", "upgrade"])
    assert created.exit_code == 0 and re.search(
        r"Created the database schema \(revision \d{4}\)", created.output
    )
    again = runner.invoke(app, ["db", "upgrade"])
    assert "already up to date" in again.output


def test_secret_rotate_puts_everything_under_a_new_key(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    talked = runner.invoke(app, ["console"], input="/start\n2\n2\n")  # a draft, kept encrypted
    assert talked.exit_code == 0, talked.output
    assert runner.invoke(app, ["staff", "add", "--user-id", "501", "--division", "personnel"]).exit_code == 0
    key_file = tmp_path / "data" / "secret.key"
    old_key = key_file.read_text().strip()

    rotated = runner.invoke(app, ["secret", "rotate"])  # the development key, in the data folder
    assert rotated.exit_code == 0, rotated.output
    assert "Rotated:" in rotated.output and str(key_file) in rotated.output
    new_key = key_file.read_text().strip()
    assert new_key != old_key and not (tmp_path / "data" / "secret.key.new").exists()
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    assert "501" in runner.invoke(app, ["staff", "list"]).output
    resumed = runner.invoke(app, ["console"], input="/start\n")  # the draft is read under the new key
    assert resumed.exit_code == 0 and "ยังกรอกไม่เสร็จ" in resumed.output

    # a key in the environment: the new one is written to a file first, and the operator swaps it
    monkeypatch.setenv("DAMRONGTHAM_SECRET_KEY", new_key)
    refused = runner.invoke(app, ["secret", "rotate"])
    assert refused.exit_code == 2 and "--new-key-file" in refused.output
    target = tmp_path / "next.key"
    done = runner.invoke(app, ["secret", "rotate", "--new-key-file", str(target)])
    assert done.exit_code == 0, done.output
    assert f"Set DAMRONGTHAM_SECRET_KEY to the key in {target}" in done.output
    monkeypatch.setenv("DAMRONGTHAM_SECRET_KEY", target.read_text().strip())
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0

    # with the wrong key nothing can be opened, and nothing changes
    monkeypatch.setenv("DAMRONGTHAM_SECRET_KEY", old_key)
    wrong = runner.invoke(app, ["secret", "rotate", "--new-key-file", str(tmp_path / "other.key")])
    assert wrong.exit_code == 2 and "nothing was changed" in wrong.output


def test_chat_qr_draws_the_web_chat_address_for_posters(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DAMRONGTHAM_PUBLIC_URL", raising=False)
    unset = runner.invoke(app, ["chat", "qr"])
    assert unset.exit_code != 0 and "DAMRONGTHAM_PUBLIC_URL" in unset.output
    monkeypatch.setenv("DAMRONGTHAM_PUBLIC_URL", "https://complaints.example.go.th/")
    out = tmp_path / "poster.svg"
    result = runner.invoke(app, ["chat", "qr", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "https://complaints.example.go.th/chat/CM" in result.output
    svg = out.read_text()
    assert svg.startswith("<svg") and 'id="qr-path"' in svg and "<path" in svg
