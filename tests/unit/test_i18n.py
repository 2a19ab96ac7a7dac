"""Every user-facing text exists in Thai and English, with the same placeholders."""

import re
import string
from pathlib import Path
from typing import get_args

import pytest

from handlers.cases.tracked import PUBLIC_KINDS
from kernel.fiscal import ROUNDS
from kernel.i18n import LANGUAGES, catalogue, t
from kernel.lifecycle import EVENT_KINDS, STAFF_ACTIONS
from kernel.messages import FILE_KINDS
from storage.web_chat import Author

ROOT = Path(__file__).resolve().parents[2]


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_catalogues_have_the_same_keys() -> None:
    th, en = set(catalogue("th")), set(catalogue("en"))
    assert th - en == set(), f"missing in en.toml: {sorted(th - en)}"
    assert en - th == set(), f"missing in th.toml: {sorted(en - th)}"


@pytest.mark.parametrize("key", sorted(catalogue("th")))
def test_placeholders_match(key: str) -> None:
    assert _placeholders(catalogue("th")[key]) == _placeholders(catalogue("en")[key])


def test_no_text_is_empty() -> None:
    for lang in LANGUAGES:
        assert all(v.strip() for v in catalogue(lang).values()), lang


def _keys_used_in_code() -> set[str]:
    """Literal keys passed to t()/text()/say()/fail()/button() anywhere in the application."""
    pattern = re.compile(
        r"""(?:\bt\(\s*[\w.]+,\s*|\.(?:text|say|fail|button)\(\s*)f?["']([a-z_]+\.[a-z_]+)["']"""
    )
    keys: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py"), *ROOT.glob("bot/**/*.html")]:
        keys |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return keys


def _keys_passed_as_values() -> set[str]:
    """Keys handed to a page or refusal to be said later (`reason="desk.link_invalid"`, `"desk.done"`)."""
    pattern = re.compile(
        r"""(?:reason|notice|Refused|NotFound|NotAllowed|WrongState|BadInput)[(=]\s*["']([a-z_]+\.[a-z_]+)["']"""
    )
    keys: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        keys |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return keys


def test_every_key_used_in_code_exists() -> None:
    # a key ending in "_" is the prefix of keys built at run time (`"staff.did_" + kind`), checked below
    used = {k for k in _keys_used_in_code() | _keys_passed_as_values() if not k.endswith("_")}
    assert len(used) > 40  # the scan found the flow's texts
    assert used - set(catalogue("th")) == set()


def test_dynamic_keys_exist() -> None:
    prefixes = {"type.": ("corruption", "grievance", "information"), "answer.": ("yes", "no", "unsure")}
    statuses = ("received", "accepted", "investigating", "awaiting_info", "resolved", "forwarded")
    for lang in LANGUAGES:
        for prefix, names in prefixes.items():
            for name in names:
                assert t(lang, prefix + name)
        for status in (*statuses, "closed_no_action", "withdrawn"):
            assert t(lang, "status." + status)
        for name in (
            "start",
            "status",
            "cancel",
            "help",
            "lang",
            "privacy",
            "cases",
            "case",
            "progress",
            "summary",
        ):
            assert t(lang, "commands." + name)
            assert len(t(lang, "commands." + name)) <= 256  # Telegram's limit for a command description
        for role in ("primary", "informed", "conflict"):
            assert t(lang, "card.role_" + role)
        for author in get_args(Author):  # the web chat's "from_" + who wrote each message
            assert t(lang, "webchat.from_" + author)
        for kind in PUBLIC_KINDS:  # the tracking page's history
            assert t(lang, "track.did_" + kind)
        for name in ROUNDS:
            assert t(lang, "figures.round_" + name, year=2570)
        for column in ("round", "first_day", "last_day", "section", "item", "value"):
            assert t(lang, "figures.csv_" + column)


def test_every_case_event_kind_has_its_history_text() -> None:
    """`/case` shows each event as `staff.did_<kind>`: a kind without a text crashed it (issue 13)."""
    for lang in LANGUAGES:
        for kind in EVENT_KINDS:
            assert f"staff.did_{kind}" in catalogue(lang), (lang, kind)
        for action in STAFF_ACTIONS:
            assert f"staff.action_{action}" in catalogue(lang), (lang, action)
        for action in ("reply", "add_info"):
            assert f"staff.reporter_{action}" in catalogue(lang), (lang, action)


def test_the_desk_admin_pages_keys_built_at_run_time_exist() -> None:
    """The admin page says `desk.access_<kind>`, `desk.setup_<gap>` and `desk.role_<role>`."""
    from handlers.cases.desk_admin import SETUP_GAPS
    from storage.desk import ACCESS_KINDS
    from storage.staff import ROLES

    for lang in LANGUAGES:
        for key in (
            *(f"desk.access_{kind}" for kind in ACCESS_KINDS),
            *(f"desk.setup_{gap}" for gap in SETUP_GAPS),
            *(f"desk.role_{role}" for role in ROLES),
            *(f"desk.file_{kind}" for kind in FILE_KINDS),
        ):
            assert key in catalogue(lang), (lang, key)


def test_an_unlisted_event_kind_is_refused() -> None:
    import asyncio
    from datetime import UTC, datetime
    from typing import cast

    from sqlalchemy.ext.asyncio import AsyncSession

    from storage.audit import append_event
    from storage.crypto import Vault

    with pytest.raises(ValueError, match="EVENT_KINDS"):
        asyncio.run(
            append_event(
                cast(AsyncSession, None),  # refused before the session is used
                cast(Vault, None),
                case_id=1,
                org_id=1,
                kind="made_up",
                actor="reporter",
                status="received",
                at=datetime.now(UTC),
            )
        )
