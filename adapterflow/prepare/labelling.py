"""Triage labels for GitHub issues, each with its provenance.

Precedence per field (severity, component, reproducibility):
1. human labels: the repository's label map in params.yaml (`prepare.triage.label_maps`); map
   entries are tried in the order written, the first label the issue carries wins
   -> provenance "label:<label name>";
2. keyword rules (`prepare.triage.keyword_rules`): rules in order, keywords matched as whole words,
   case-insensitive (a trailing `*` matches any word ending: `crash*`), in the title and normalised
   body; fields listed in `keyword_title_first` look at the title alone first and read the body
   only when the title matches nothing -> "keyword:<keyword>";
3. the documented default (`prepare.triage.defaults`) -> "default".

Provenance lets the dashboard and validate show how much of the data humans labelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapterflow.prepare.tasks import TRIAGE_VOCABULARY

if TYPE_CHECKING:
    from adapterflow.params import TriagePrepareParams


@dataclass(frozen=True)
class Labels:
    """The target values of one issue and where each came from."""

    values: dict[str, str]
    provenance: dict[str, str]


def provenance_kind(provenance: str) -> str:
    """ "label:topic:audio" -> "label"; "keyword:crash" -> "keyword"; "default" -> "default"."""
    return provenance.split(":", 1)[0]


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    # Whole words only, so "lag" does not fire on "flag" and "sound" not on "USE_SOUND" or
    # "ofSound"; a preceding "." also blocks a match ("config.save" is not about saves).
    # Phrases such as "every time" match as written; "crash*" covers crashes/crashed/crashing.
    stem, wildcard = (keyword[:-1], r"\w*") if keyword.endswith("*") else (keyword, "")
    return re.compile(r"(?<![\w.])" + re.escape(stem) + wildcard + r"(?!\w)", re.IGNORECASE)


class Labeller:
    """Applies one params' label maps, keyword rules and defaults; build once, call per issue."""

    def __init__(self, triage: TriagePrepareParams) -> None:
        self._label_maps = {
            repo.casefold(): [
                (label, label.casefold(), dict(targets)) for label, targets in labels.items()
            ]
            for repo, labels in triage.label_maps.items()
        }
        self._rules = {
            field: [
                (rule.value, [(kw, _keyword_pattern(kw)) for kw in rule.keywords])
                for rule in triage.keyword_rules[field]
            ]
            for field in triage.keyword_rules
        }
        self._defaults = dict(triage.defaults)
        self._title_first = set(triage.keyword_title_first)

    def knows_repo(self, repo: str) -> bool:
        """Whether `repo` has a label map (validate checks its labels are still in use)."""
        return repo.casefold() in self._label_maps

    def mapped_labels(self, repo: str, labels: list[str]) -> list[str]:
        """The issue's labels that the repository's label map knows, in map order."""
        present = {label.casefold() for label in labels}
        entries = self._label_maps[repo.casefold()] if self.knows_repo(repo) else []
        return [name for name, key, _ in entries if key in present]

    def label(self, repo: str, labels: list[str], title: str, body: str) -> Labels:
        """Label one issue.

        Args:
            repo: "owner/name" of the issue's repository.
            labels: the issue's label names as GitHub shows them.
            title: the issue title.
            body: the normalised body (what keyword rules read after the title).

        Returns:
            A value and a provenance for every triage field.
        """
        present = {label.casefold() for label in labels}
        entries = self._label_maps[repo.casefold()] if self.knows_repo(repo) else []
        values: dict[str, str] = {}
        provenance: dict[str, str] = {}
        for field in TRIAGE_VOCABULARY:
            found = next(
                (
                    (name, targets[field])
                    for name, key, targets in entries
                    if key in present and field in targets
                ),
                None,
            )
            if found is not None:
                values[field], provenance[field] = found[1], f"label:{found[0]}"
                continue
            if field in self._title_first:
                hit = self._keyword_hit(field, title) or self._keyword_hit(field, body)
            else:
                hit = self._keyword_hit(field, f"{title}\n{body}")
            if hit is not None:
                values[field], provenance[field] = hit[0], f"keyword:{hit[1]}"
                continue
            values[field], provenance[field] = self._defaults[field], "default"
        return Labels(values=values, provenance=provenance)

    def _keyword_hit(self, field: str, text: str) -> tuple[str, str] | None:
        for value, keywords in self._rules.get(field, []):  # a field may have no keyword rules
            for keyword, pattern in keywords:
                if pattern.search(text):
                    return value, keyword
        return None
