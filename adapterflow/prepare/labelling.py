"""Labels for GitHub issues from the people who triaged them, each value with its provenance.

Used by every label-driven task (adapterflow/tasks/labelled.py). Precedence per field:
1. human labels: the repository's own map (`label_maps`; entries tried in the order written, the
   first label the issue carries wins) -> provenance "label:<label name>"; then GitHub's issue type
   (`type_maps`, set by maintainers) -> "type:<type name>"; then the spellings common to every
   repository (`common_labels`) -> "label:<label name>";
2. weak labels, only those the task opts into (`weak_labels`):
   - an explicit template field (`template_fields`): a "Reproducible: Always" line or an issue-form
     section ("### Reproducible" then "Always"), read with the field's keyword rules
     -> "template:<field name>";
   - keyword rules (`keyword_rules`): rules in order, whole words, case-insensitive (a trailing `*`
     matches any word ending: `crash*`), in the title and normalised body; fields listed in
     `keyword_title_first` look at the title alone first -> "keyword:<keyword>";
   - the documented default (`defaults`) -> "default";
3. otherwise the field is "unlabelled": it keeps a placeholder value (a weak guess if there is one,
   else the field's first allowed value) that training masks out and evaluate never scores.

Only prose decides weak labels: URLs, HTML tags, image placeholders, code blocks and inline code are
removed before matching (a screenshot's `https://` is no network issue), and a keyword never
matches inside an identifier, flag or path (`-Wformat-security`, `/security/`, `AudioServer.play`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapterflow.prepare.normalise import FirstAfter, MarkdownLinks, strip_invisible

if TYPE_CHECKING:  # the label-driven task builds a Labeller; only the type comes back here
    from adapterflow.tasks.labelled import LabelTaskParams

UNLABELLED = "unlabelled"  # provenance of a field no person (nor an opted-in weak rule) labelled
HUMAN_KINDS = (
    "label",
    "type",
    "field",
)  # a person decided: a label, an issue type, a paper's own record


@dataclass(frozen=True)
class Labels:
    """The target values of one issue and where each came from."""

    values: dict[str, str]
    provenance: dict[str, str]


def provenance_kind(provenance: str) -> str:
    """ "label:topic:audio" -> "label"; "keyword:crash" -> "keyword"; "default" -> "default"."""
    return provenance.split(":", 1)[0]


def is_human(provenance: str) -> bool:
    """Whether a value with this provenance was given by a person (a label or an issue type)."""
    return provenance_kind(provenance) in HUMAN_KINDS


def is_scored(provenance: str) -> bool:
    """Whether a value with this provenance trains and counts in scores (all but unlabelled)."""
    return provenance != UNLABELLED


# What is not prose: fenced code (as normalise.py writes it, or raw), inline code, URLs, HTML tags,
# markdown images and the "[image: ...]" placeholders normalise.py leaves for them. The last two are
# found by scanners in `prose`, not as alternatives here: a regex rescans from every "![" or
# "[image:" to the next "]", quadratic on "![" * 34000 (issue #21). Every alternative left fails
# within its line or before the next "<", so a search stays linear.
_NOT_PROSE = re.compile(
    r"(?ms)^[ \t]*(```|~~~).*?(^[ \t]*\1[^\n]*$|\Z)"  # fenced code block (unclosed: to the end)
    r"|`[^`\n]*`"  # inline code
    r"|<!--.*?(?:-->|\Z)"  # HTML comment
    r"|</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>"  # HTML tag, attributes and all
    r"|\b(?:https?|ftp)://[^\s<>()\[\]]+|\bwww\.[^\s<>()\[\]]+"  # URL
)
_PLACEHOLDER = "[image"  # normalise.py's "[image]" / "[image: alt]": `\[image(?::[^\]]*)?\]`

Span = tuple[int, int]


def _placeholder(text: str, pos: int, first: FirstAfter) -> Span | None:
    """Span of the first image placeholder at or after `pos`, or None."""
    while (start := text.find(_PLACEHOLDER, pos)) >= 0:
        pos = start + 1
        after = start + len(_PLACEHOLDER)
        if text.startswith("]", after):
            return start, after + 1
        if text.startswith(":", after):
            close = first("]", after + 1)
            return (start, close + 1) if close >= 0 else None  # no "]" left: none later either
    return None


def prose(text: str) -> str:
    r"""`text` without code, URLs, HTML tags or images: the part that may decide a label.

    Each non-prose span becomes one space, exactly as one regex alternation of all of them would
    leave it (markdown images first as `!\[[^\]]*\]\([^)]*\)`, links as their text), in time linear
    in `text`.
    """
    text = MarkdownLinks(text, image=False).sub(lambda label: label)  # [text](url) -> text
    images, first = MarkdownLinks(text, image=True), FirstAfter(text)

    def other(pos: int) -> Span | None:
        found = _NOT_PROSE.search(text, pos)
        return found.span() if found else None

    def image(pos: int) -> Span | None:
        found = images.search(pos)
        return found[:2] if found else None

    finders = (other, image, lambda pos: _placeholder(text, pos, first))
    # Each finder's next span is kept until a taken span passes its start. No two finders can
    # start a span at the same place ("!", "[", anything else), so the leftmost span is the one
    # the alternation would take there.
    ahead = [find(0) for find in finders]
    out, pos = [], 0
    while any(ahead):
        start, end = min(span for span in ahead if span)
        out += [text[pos:start], " "]
        pos = end
        ahead = [
            find(pos) if span and span[0] < pos else span
            for find, span in zip(finders, ahead, strict=True)
        ]
    out.append(text[pos:])
    return "".join(out)


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
    # `[ \t*_]*+` is possessive: backtracking into it could only retry the same spaces before the
    # ":" or newline, which made "Reproducible" + 60,000 spaces + "x" quadratic.
    inline = r":[ \t*_]*(?P<inline>\S[^\n]*)"
    form = r"\n\s*(?P<form>[^\n]+)"
    return re.compile(rf"(?im)^[ \t>*_#+-]*{name}[ \t*_]*+(?:{inline}|{form})")


class Labeller:
    """Applies one task's label maps, issue-type map, weak rules and defaults; build once."""

    def __init__(self, section: LabelTaskParams) -> None:
        self._label_maps = {
            repo.casefold(): _entries(labels) for repo, labels in section.label_maps.items()
        }
        self._common = _entries(section.common_labels)
        self._types = {name.casefold(): (name, dict(t)) for name, t in section.type_maps.items()}
        self._rules = {
            field: [
                (rule.value, [(kw, _keyword_pattern(kw)) for kw in rule.keywords])
                for rule in section.keyword_rules[field]
            ]
            for field in section.keyword_rules
        }
        self._templates = {
            field: [(name, _template_pattern(name)) for name in names]
            for field, names in section.template_fields.items()
        }
        self._defaults = dict(section.defaults)
        self._fields = {field: values[0] for field, values in section.vocabulary.items()}
        self._title_first = set(section.keyword_title_first)
        self._weak = set(section.weak_labels)

    def knows_repo(self, repo: str) -> bool:
        """Whether `repo` has a label map of its own (validate checks its labels are in use)."""
        return repo.casefold() in self._label_maps

    def mapped_labels(self, repo: str, labels: list[str]) -> list[str]:
        """The issue's labels that the repository's map or the common map knows, in map order."""
        present = {label.casefold() for label in labels}
        return [name for name, key, _ in self._human_entries(repo) if key in present]

    def has_human_label(self, repo: str, labels: list[str], issue_type: str | None) -> bool:
        """Whether a person labelled any field of this issue: a mapped label or issue type."""
        mapped_type = isinstance(issue_type, str) and issue_type.casefold() in self._types
        return mapped_type or bool(self.mapped_labels(repo, labels))

    def maps_repo(self, repo: str) -> bool:
        """Whether any map can label `repo`'s issues: its own map, common labels or issue types."""
        return self.knows_repo(repo) or bool(self._common) or bool(self._types)

    def _human_entries(self, repo: str) -> list[tuple[str, str, dict[str, str]]]:
        return self._label_maps.get(repo.casefold(), []) + self._common

    def label(
        self, repo: str, labels: list[str], title: str, body: str, issue_type: str | None = None
    ) -> Labels:
        """Label one issue.

        Args:
            repo: "owner/name" of the issue's repository.
            labels: the issue's label names as GitHub shows them.
            title: the issue title.
            body: the normalised body (what template fields and keyword rules read); its code,
                URLs, markup and invisible characters are ignored.
            issue_type: the name of the issue's GitHub issue type ("Bug"), or None.

        Returns:
            A value and a provenance for every field; unlabelled fields hold a placeholder value
            and the provenance "unlabelled".
        """
        # Invisible characters go here too, whoever calls: "cra\u00adshes" is "crashes".
        title, body = prose(strip_invisible(title)), prose(strip_invisible(body))
        present = {label.casefold() for label in labels}
        own = self._label_maps.get(repo.casefold(), [])
        kind = self._types.get(issue_type.casefold()) if isinstance(issue_type, str) else None
        values: dict[str, str] = {}
        provenance: dict[str, str] = {}
        for field, placeholder in self._fields.items():
            human = _first(own, present, field)
            if human is None and kind is not None and field in kind[1]:
                human = (kind[1][field], f"type:{kind[0]}")
            if human is None:
                human = _first(self._common, present, field)
            if human is not None:
                values[field], provenance[field] = human
                continue
            weak = self._weak_labels(field, title, body)
            chosen = next((w for w in weak if w[2] in self._weak), None)
            if chosen is not None:
                values[field], provenance[field] = chosen[0], chosen[1]
            else:  # the best guess, if any, only as context: it neither trains nor scores
                values[field] = weak[0][0] if weak else placeholder
                provenance[field] = UNLABELLED
        return Labels(values=values, provenance=provenance)

    def _weak_labels(self, field: str, title: str, body: str) -> list[tuple[str, str, str]]:
        """(value, provenance, weak source) from a template line, a keyword and the default, in
        that order of precedence, each that applies."""
        found = []
        stated = self._template_hit(field, body)
        if stated is not None:
            found.append((stated[0], f"template:{stated[1]}", "template"))
        if field in self._title_first:
            hit = self._keyword_hit(field, title) or self._keyword_hit(field, body)
        else:
            hit = self._keyword_hit(field, f"{title}\n{body}")
        if hit is not None:
            found.append((hit[0], f"keyword:{hit[1]}", "keyword"))
        if field in self._defaults:
            found.append((self._defaults[field], "default", "default"))
        return found

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


def _entries(labels: dict[str, dict[str, str]]) -> list[tuple[str, str, dict[str, str]]]:
    return [(label, label.casefold(), dict(targets)) for label, targets in labels.items()]


def _first(
    entries: list[tuple[str, str, dict[str, str]]], present: set[str], field: str
) -> tuple[str, str] | None:
    """(value, "label:<name>") of the first map entry the issue carries that decides `field`."""
    for name, key, targets in entries:
        if key in present and field in targets:
            return targets[field], f"label:{name}"
    return None
