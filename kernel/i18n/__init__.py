"""Message catalogues: Thai (default) and English, one TOML file per language."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("th", "en")
DEFAULT_LANG = "th"


def _flatten(prefix: str, table: dict[str, Any], out: dict[str, str]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(name, value, out)
        else:
            out[name] = str(value)


@cache
def catalogue(lang: str) -> dict[str, str]:
    text = (resources.files("kernel") / "i18n" / f"{lang}.toml").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    _flatten("", tomllib.loads(text), out)
    return out


def normalise_lang(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT_LANG


def t(lang: str, key: str, **values: Any) -> str:
    """The text for `key` in `lang`, with `{placeholders}` filled."""
    template = catalogue(normalise_lang(lang))[key]
    return template.format(**values) if values else template
