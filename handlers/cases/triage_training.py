"""Fitting the suggestion to an organisation's own cases (`damrongtham triage train`).

The labels are the cases staff have handled: once a staff member has acted on a case, its type and
category are confirmed, as the reporter confirmed them or as staff corrected them
(`staff_cases.recategorise_case`). A quarter of those cases (by case number) are held out; the
rules and a model fitted on the rest are scored on them, and the model is kept only when it beats
the rules on the category without doing worse on the type. Kept, it is fitted again on every
labelled case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlmodel import col

from handlers.core.work import Work
from kernel.org_config import OrgConfig
from kernel.triage import LearnedTriage, Suggests, Triage
from storage.models import Case, CaseEvent

MIN_CASES = 20  # fewer labelled cases say nothing about a model
HELD_OUT_EVERY = 4  # every fourth case, by number, is kept out of the fitting


@dataclass(frozen=True)
class Labelled:
    case_id: int
    text: str
    label: str  # "type:category"


@dataclass(frozen=True)
class Scores:
    type: float  # the share of held-out cases whose type is right
    category: float  # ... whose type and category are both right


@dataclass(frozen=True)
class Training:
    labelled: int
    held_out: int
    rules: Scores | None = None
    model: Scores | None = None
    # fitted on every labelled case, when it beat the rules; None when the rules stay
    kept: Any = None


async def labelled_cases(work: Work, org: OrgConfig) -> list[Labelled]:
    """The organisation's cases a staff member has acted on, with their descriptions."""
    org_id = work.services.directory.org_ids[org.code]
    by_staff = col(CaseEvent.actor).startswith("staff:")
    handled = exists().where(col(CaseEvent.case_id) == col(Case.id), by_staff)
    rows = await work.session.execute(
        select(col(Case.id), col(Case.report_type), col(Case.category), col(Case.details_enc))
        .where(col(Case.org_id) == org_id, handled)
        .order_by(col(Case.id))
    )
    vault = work.services.vault
    out = []
    for case_id, report_type, category, details in rows:
        text = str(vault.decrypt(details).get("description") or "")
        if text:
            out.append(Labelled(case_id or 0, text, f"{report_type}:{category}"))
    return out


async def train(work: Work, org: OrgConfig, rules: Triage) -> Training:
    cases = await labelled_cases(work, org)
    held = [c for c in cases if c.case_id % HELD_OUT_EVERY == 0]
    fitting = [c for c in cases if c.case_id % HELD_OUT_EVERY != 0]
    if len(cases) < MIN_CASES or not held or len({c.label for c in fitting}) < 2:
        return Training(len(cases), len(held))
    # fitting is work for a processor, not for the event loop
    model = await asyncio.to_thread(fit, [c.text for c in fitting], [c.label for c in fitting])
    by_rules, by_model = score(rules, held), score(LearnedTriage(rules, model), held)
    if by_model.category <= by_rules.category or by_model.type < by_rules.type:
        return Training(len(cases), len(held), by_rules, by_model)
    kept = await asyncio.to_thread(fit, [c.text for c in cases], [c.label for c in cases])
    return Training(len(cases), len(held), by_rules, by_model, kept)


def score(suggests: Suggests, cases: Sequence[Labelled]) -> Scores:
    types = categories = 0
    for case in cases:
        found = suggests.suggest(case.text)
        right_type = case.label.startswith(f"{found.report_type}:")
        types += right_type
        categories += right_type and case.label == f"{found.report_type}:{found.category}"
    return Scores(types / len(cases), categories / len(cases))


def fit(texts: list[str], labels: list[str]) -> Any:
    """Characters two to four at a time, weighed by how telling they are, into a logistic
    regression: Thai needs no cutting into words for it, and a few hundred cases fit in a second."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True),
        LogisticRegression(max_iter=2000, C=10.0),
    )
    model.fit(texts, labels)
    return model
