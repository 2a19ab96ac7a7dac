"""Organisation files: one TOML file describes one organisation; `DAMRONGTHAM_CONFIG` names one
file, several (separated by the OS path separator) or a folder of `*.toml` files."""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from kernel.org_config import ConfigError, OrgConfig


def default_config_path() -> Path:
    return Path(str(resources.files("kernel") / "orgs" / "cm-pao.toml"))


def _format_validation_error(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = ""
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required (hint: add this field)"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known field (hint: check the spelling)"
        elif err["type"] == "literal_error":
            msg = f"{msg} (hint: check the spelling)"
        problems.append(f"{loc or '(file)'}: {msg}")
    return problems


def load_org_file(path: Path) -> OrgConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(path), ["file not found (hint: check DAMRONGTHAM_CONFIG)"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from exc
    try:
        return OrgConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), _format_validation_error(exc)) from exc


def config_paths(spec: str) -> list[Path]:
    if not spec.strip():
        return [default_config_path()]
    paths: list[Path] = []
    for part in spec.split(os.pathsep):
        p = Path(part.strip()).expanduser()
        if not part.strip():
            continue
        if p.is_dir():
            paths.extend(sorted(p.glob("*.toml")))
        else:
            paths.append(p)
    return paths


class Organisations:
    """Every organisation this deployment serves, by code."""

    def __init__(self, orgs: list[OrgConfig]) -> None:
        self._by_code = {o.code: o for o in orgs}
        self.all = list(orgs)

    def get(self, code: str) -> OrgConfig | None:
        return self._by_code.get(code.upper())

    def __getitem__(self, code: str) -> OrgConfig:
        return self._by_code[code]

    @property
    def single(self) -> OrgConfig | None:
        return self.all[0] if len(self.all) == 1 else None


def load_organisations(spec: str) -> Organisations:
    orgs = [load_org_file(p) for p in config_paths(spec)]
    if not orgs:
        raise ConfigError(spec, ["no organisation files found (hint: point to a .toml file)"])
    codes = [o.code for o in orgs]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise ConfigError(spec, [f"code: {', '.join(dupes)} used by more than one file"])
    return Organisations(orgs)
