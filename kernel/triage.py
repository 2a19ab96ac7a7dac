"""What a citizen's own words are about: the report type, the category, whether it concerns the
organisation's personnel, and a division named. A suggestion only: nothing is routed on it until
the citizen confirms it.

The rules are the organisation file's words: each category's `keywords_th` / `keywords_en`, the
`[triage]` cue words of each report type and of personnel, and the divisions' names and keywords.
Thai is written without spaces, so a Thai word is found inside the text (three letters or more;
shorter ones only as a word of pythainlp's dictionary cut, which runs offline); English is matched
word by word, with plural and verb endings taken off.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from pythainlp.tokenize import word_tokenize

from kernel.org_config import REPORT_TYPES, Concern, OrgConfig, ReportType

_THAI = re.compile(r"[\u0e00-\u0e7f]")
_ENGLISH_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_TYPE_CUE_WEIGHT = 2.0  # "ขอสำเนา", "bribe": words about the kind of report outweigh topic words


@dataclass(frozen=True)
class Suggestion:
    report_type: ReportType
    category: str
    concerns_personnel: Concern
    division: str | None
    confidence: float  # 0 (nothing recognised) to 1

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        return {
            "type": data.pop("report_type"),
            **data,
        }


def _normal(text: str) -> str:
    return unicodedata.normalize("NFC", text).lower()


def _stem(word: str) -> str:
    for ending in ("ing", "ed", "es", "s"):
        if len(word) > len(ending) + 3 and word.endswith(ending):
            return word[: -len(ending)]
    return word


def _english(text: str) -> tuple[str, ...]:
    return tuple(_stem(w.removesuffix("'s").strip(".'")) for w in _ENGLISH_WORD.findall(text))


@dataclass(frozen=True)
class _Phrase:
    text: str  # normalised
    words: tuple[str, ...]  # English words, stemmed, or the Thai dictionary cut
    thai: bool
    weight: float

    @classmethod
    def of(cls, phrase: str) -> _Phrase:
        text = _normal(phrase).strip()
        thai = bool(_THAI.search(text))
        words = tuple(word_tokenize(text, keep_whitespace=False)) if thai else _english(text)
        # a longer phrase says more than a short word
        return cls(text, words, thai, 1.0 + min(len(text), 12) / 12)


class _Text:
    """A report's text, cut once, for the phrases to be looked for in."""

    def __init__(self, text: str) -> None:
        self.text = _normal(text)
        self.thai_words = tuple(w for w in word_tokenize(self.text, keep_whitespace=False) if w.strip())
        self.english = _english(self.text)

    def has(self, phrase: _Phrase) -> bool:
        if not phrase.words:
            return False
        if phrase.thai:
            if len(phrase.text) >= 3:
                return phrase.text in self.text
            return _contains(self.thai_words, phrase.words)
        return _contains(self.english, phrase.words)

    def score(self, phrases: Iterable[_Phrase]) -> float:
        return sum(p.weight for p in phrases if self.has(p))


def _contains(words: tuple[str, ...], part: tuple[str, ...]) -> bool:
    n = len(part)
    return any(words[i : i + n] == part for i in range(len(words) - n + 1))


class Triage:
    """An organisation's rules, compiled once."""

    def __init__(self, org: OrgConfig) -> None:
        rules = org.triage
        self._types = {t: _phrases(rules.cues(t)) for t in REPORT_TYPES}
        self._categories = {
            t: [(c.code, _phrases([*c.keywords_th, *c.keywords_en])) for c in org.categories.for_type(t)]
            for t in REPORT_TYPES
        }
        self._personnel = _phrases([*rules.personnel_th, *rules.personnel_en])
        self._divisions = [
            (d.code, _phrases([d.name_th, d.name_en, *d.keywords_th, *d.keywords_en])) for d in org.divisions
        ]

    def suggest(self, text: str, report_type: ReportType | None = None) -> Suggestion:
        """The suggestion for `text`; with `report_type`, the rest of it for that type (the citizen
        said which kind of report it is)."""
        found = _Text(text)
        category_scores = {
            t: {code: found.score(phrases) for code, phrases in categories}
            for t, categories in self._categories.items()
        }
        type_scores = {
            t: _TYPE_CUE_WEIGHT * found.score(self._types[t]) + max(category_scores[t].values(), default=0.0)
            for t in REPORT_TYPES
        }
        ranked = sorted(type_scores.items(), key=lambda item: -item[1])
        (best, top), second = ranked[0], ranked[1][1]
        if report_type is None:
            report_type = best if top > 0 else "grievance"  # most reports are; a person confirms anyway
        scores = category_scores[report_type]
        codes = list(scores)
        category = max(codes, key=lambda code: scores[code]) if top > 0 else ""
        if not scores.get(category):
            category = "other" if "other" in scores else codes[0]
        division = next((code for code, phrases in self._divisions if found.score(phrases)), None)
        personnel: Concern
        if report_type == "information":
            personnel = "no"  # a request for documents is about them, not about who holds them
        elif found.score(self._personnel):
            personnel = "yes"
        elif division is not None:
            personnel = "yes" if report_type == "corruption" else "unsure"
        else:
            personnel = "unsure" if report_type == "corruption" else "no"
        # how clearly the best type stands out, and how much was recognised at all
        confidence = 0.0 if top <= 0 else (top - second) / top * (1 - math.exp(-top / 2))
        return Suggestion(report_type, category, personnel, division, round(confidence, 2))


def _phrases(words: Iterable[str]) -> list[_Phrase]:
    return [p for p in (_Phrase.of(w) for w in words if w.strip()) if p.words]


class Suggests(Protocol):
    def suggest(self, text: str, report_type: ReportType | None = None) -> Suggestion: ...


class LearnedTriage:
    """The rules, with the type and category from a model fitted on the organisation's own cases
    (`damrongtham triage train`, used only when it beat the rules on cases it had not seen). The
    model is any classifier of texts into "type:category" labels with `predict_proba` and
    `classes_` (a scikit-learn pipeline); personnel and division still come from the rules."""

    def __init__(self, rules: Triage, model: Any) -> None:
        self.rules, self.model = rules, model

    def suggest(self, text: str, report_type: ReportType | None = None) -> Suggestion:
        labels: Sequence[str] = [str(label) for label in self.model.classes_]
        ranked = sorted(zip(self.model.predict_proba([text])[0], labels, strict=True), reverse=True)
        if report_type is not None:
            ranked = [(p, label) for p, label in ranked if label.startswith(f"{report_type}:")]
        kind = next((t for t in REPORT_TYPES if ranked and ranked[0][1].startswith(f"{t}:")), None)
        if kind is None:
            return self.rules.suggest(text, report_type)
        probability, label = ranked[0]
        found = self.rules.suggest(text, kind)
        return replace(found, category=label.partition(":")[2], confidence=round(float(probability), 2))
