"""Triage labels for GitHub issues, each with its provenance.

Precedence per field (severity, component, reproducibility):
1. human labels: the repository's label map in params.yaml (`prepare.triage.label_maps`); map
   entries are tried in the order written, the first label the issue carries wins
   -> provenance "label:<label name>";
2. an explicit template field (`prepare.triage.template_fields`): a "Reproducible: Always" line or
   an issue-form section ("### Reproducible" then "Always"), its value read with the field's
   keyword rules -> "template:<field name>";
3. keyword rules (`prepare.triage.keyword_rules`): rules in order, keywords matched as whole words,
   case-insensitive (a trailing `*` matches any word ending: `crash*`), in the title and normalised
   body; fields listed in `keyword_title_first` look at the title alone first and read the body
   only when the title matches nothing -> "keyword:<keyword>";
4. the documented default (`prepare.triage.defaults`) -> "default".

Only prose decides: URLs, HTML tags, image placeholders, code blocks and inline code are removed
before matching (a screenshot's `https://` is no network issue), and a keyword never matches inside
an identifier, flag or path (`-Wformat-security`, `/security/`, `AudioServer.play`).

Provenance lets the dashboard and validate show how much of the data humans labelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the triage task module builds a Labeller; only the type comes back here
    from adapterflow.tasks.triage import TriagePrepareParams


@dataclass(frozen=True)
class Labels:
    """The target values of one issue and where each came from."""

    values: dict[str, str]
    provenance: dict[str, str]


def provenance_kind(provenance: str) -> str:
    """ "label:topic:audio" -> "label"; "keyword:crash" -> "keyword"; "default" -> "default"."""
    return provenance.split(":", 1)[0]


# What is not prose: fenced code (as normalise.py writes it, or raw), inline code, URLs, HTML tags,
# markdown images and the "[image: ...]" placeholders normalise.py leaves for them.
_NOT_PROSE = re.compile(
    r"(?ms)^[ \t]*(```|~~~).*?(^[ \t]*\1[^\n]*$|\Z)"  # fenced code block (unclosed: to the end)
    r"|`[^`\n]*`"  # inline code
    r"|!\[[^\]]*\]\([^)]*\)"  # markdown image
    r"|\[image(?::[^\]]*)?\]"  # normalise.py's image placeholder
    r"|<!--.*?(?:-->|\Z)"  # HTML comment
    r"|</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>"  # HTML tag, attributes and all
    r"|\b(?:https?|ftp)://[^\s<>()\[\]]+|\bwww\.[^\s<>()\[\]]+"  # URL
)
_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\([^)]*\)")  # [text](url) -> text; images go whole


def prose(text: str) -> str:
    """`text` without code, URLs, HTML tags or images: the part that may decide a label."""
    return _NOT_PROSE.sub(" ", _LINK.sub(r"\1", text))


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    # Whole words only, so "lag" does not fire on "flag" and "sound" not on "USE_SOUND" or
    # "ofSound". Nor inside a flag, path or dotted name: "-Wformat-security", "/security/",
    # "config.save" and "AudioServer.play" are identifiers, not prose about saves or audio.
    # Phrases such as "every time" match as written; "crash*" covers crashes/crashed/crashing.
    stem, wildcard = (keyword[:-1], r"\w*") if keyword.endswith("*") else (keyword, "")
    before = r"(?<![\w.\-/\\])" if stem[:1].isalnum() else ""
    after = r"(?![\w\-]|[./\\]\w)" if (wildcard or stem[-1:].isalnum()) else ""
    return re.compile(before + re.escape(stem) + wildcard + after, re.IGNORECASE)


def _template_pattern(name: str) -> re.Pattern[str]:
    # "Reproducible: Always", "**Reproducible:** always", or an issue-form section whose heading
    # line is the name (normalise.py drops the "###") and whose first non-empty line is the value.
    name = re.escape(name)
    inline = r":[ \t*_]*(?P<inline>\S[^\n]*)"
    form = r"[ \t]*\n\s*(?P<form>[^\n]+)"
    return re.compile(rf"(?im)^[ \t>*_#+-]*{name}[ \t*_]*(?:{inline}|{form})")


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
        self._templates = {
            field: [(name, _template_pattern(name)) for name in names]
            for field, names in triage.template_fields.items()
        }
        self._defaults = dict(triage.defaults)
        self._fields = tuple(triage.vocabulary.values())
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
            body: the normalised body (what template fields and keyword rules read); its code,
                URLs and markup are ignored.

        Returns:
            A value and a provenance for every triage field.
        """
        title, body = prose(title), prose(body)
        present = {label.casefold() for label in labels}
        entries = self._label_maps[repo.casefold()] if self.knows_repo(repo) else []
        values: dict[str, str] = {}
        provenance: dict[str, str] = {}
        for field in self._fields:
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
            stated = self._template_hit(field, body)
            if stated is not None:
                values[field], provenance[field] = stated[0], f"template:{stated[1]}"
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

    def _template_hit(self, field: str, body: str) -> tuple[str, str] | None:
        """(value, template name) of the first template line whose value a keyword rule reads."""
        for name, pattern in self._templates.get(field, []):
            for match in pattern.finditer(body):
                hit = self._keyword_hit(field, match["inline"] or match["form"])
                if hit is not None:
                    return hit[0], name
        return None

    def _keyword_hit(self, field: str, text: str) -> tuple[str, str] | None:
        for value, keywords in self._rules.get(field, []):  # a field may have no keyword rules
            for keyword, pattern in keywords:
                if pattern.search(text):
                    return value, keyword
        return None
