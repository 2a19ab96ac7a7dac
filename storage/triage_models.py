"""The suggestion model fitted on an organisation's own cases (`damrongtham triage train`), kept as
a file in the data folder beside the evidence files."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any


def model_path(data_dir: Path, org_code: str) -> Path:
    return data_dir / "triage" / f"{org_code}.pickle"


def save_model(path: Path, model: Any) -> None:
    """Written beside, then put in place: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    part.write_bytes(pickle.dumps(model))
    part.replace(path)


def load_model(path: Path) -> Any | None:
    if not path.exists():
        return None
    # our own file, written by `damrongtham triage train` into the data folder, which only the
    # service's account may write; a pickle from anywhere else must never be put there
    return pickle.loads(path.read_bytes())
