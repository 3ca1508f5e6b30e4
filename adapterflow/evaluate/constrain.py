"""Decoding aids for evaluate, promote and predict: schema constraint and hopeless-answer stop.

`StopHopelessAnswers` (always on) ends an answer as soon as it can no longer be one JSON object
(prose before the `{`, text after the closing `}`): such an answer fails every metric but BLEU
whatever comes next, so only decoding time is saved, mostly on the zero-shot baseline.

Schema-constrained greedy decoding (`evaluate.constrained`): answers can only be the task's JSON,
enums included.

A task's answer is compact JSON with its fields in a fixed order (`TaskDefinition.render_target`):
`{"severity": "high", "component": "audio", "reproducibility": "always"}`. `AnswerGrammar` turns
the task into a regular expression of exactly that language: literal keys and separators, one of
the allowed values for an enum field, and a run of characters without quotes, backslashes or
control characters for a free-text field. `SchemaLogitsProcessor` (a transformers
`LogitsProcessor`) then lets greedy decoding pick, at every step, the highest-scoring token that
keeps the answer a prefix of that language (checked with the `regex` module's partial matching),
and the stop token once the object is complete. A free-text value therefore cannot contain `"`;
titles with quotes cannot be reproduced exactly (rare in arXiv titles).

Greedy decoding only needs the best allowed token, so instead of masking the 262k-token
vocabulary the processor walks the candidates in score order (top 8, then 256, then 4096) and
keeps the first that fits: usually the model's own first choice. Each row records whether the
constraint ever changed the model's choice (`intervened`): where it did not, the constrained
answer IS the unconstrained greedy answer, so evaluate re-generates only the other rows to report
the unconstrained figure beside the constrained one.

    processor = SchemaLogitsProcessor(AnswerGrammar(task), tokenizer)
    model.generate(..., logits_processor=LogitsProcessorList([processor]))
    processor.intervened  # one bool per row of that generate call

A processor notices when a new `generate` call starts (a batch whose prompt differs from the one
it was following), so one instance can serve every batch of `generate_batched`; `intervened`
always describes the current (last) call.
"""

from __future__ import annotations

from typing import Any

import regex
import torch
from transformers import LogitsProcessor

from adapterflow.chat import END_OF_TURN
from adapterflow.tasks import TaskDefinition

# Allowed in a free-text value: anything JSON lets a string hold without escaping.
FREE_TEXT = r'[^"\\\x00-\x1f]+'
CANDIDATE_DEPTHS = (8, 256, 4096)  # candidates tried per step before widening the search


class AnswerGrammar:
    """The exact answer language of a task, as a regular expression with partial matching.

    Args:
        task: the task definition (field order, enums; other fields are free text).
    """

    def __init__(self, task: TaskDefinition) -> None:
        parts = []
        for i, name in enumerate(task.fields):
            parts.append(regex.escape(("{" if i == 0 else ", ") + f'"{name}": "'))
            if name in task.enums:
                parts.append("(?:" + "|".join(regex.escape(v) for v in task.enums[name]) + ")")
            else:
                parts.append(FREE_TEXT)
            parts.append('"')
        parts.append(r"\}")
        self.pattern = regex.compile("".join(parts))

    def allows(self, text: str) -> bool:
        """True when `text` is a prefix of some valid answer (or a whole one)."""
        return self.pattern.fullmatch(text, partial=True) is not None

    def complete(self, text: str) -> bool:
        """True when `text` is a whole valid answer."""
        return self.pattern.fullmatch(text) is not None


class _PerCallProcessor(LogitsProcessor):
    """Tracks which `generate` call it is in: the prompt width and one flag per row."""

    def __init__(self) -> None:
        self.width: int | None = None
        self.prompt: torch.Tensor | None = None
        self.intervened: list[bool] = []

    def _start_if_new(self, input_ids: torch.Tensor) -> None:
        if self.prompt is not None and self.width is not None:
            rows, length = input_ids.shape
            if (
                rows == self.prompt.shape[0]
                and length > self.width
                and torch.equal(input_ids[:, : self.width], self.prompt)
            ):
                return  # the next step of the call being followed
        self.width = input_ids.shape[1]  # first step of a generate call: all is prompt
        self.prompt = input_ids.clone()
        self.intervened = [False] * input_ids.shape[0]


def json_object_hopeless(text: str) -> bool:
    """True when no continuation of `text` can make `text.strip()` exactly one JSON object: it
    starts with something other than `{`, or its top-level object closed and non-space followed.
    False whenever in doubt (brackets are only counted, not matched)."""
    body = text.lstrip()
    if not body:
        return False
    if body[0] != "{":
        return True
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(body):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return bool(body[i + 1 :].strip())
    return False


class StopHopelessAnswers(_PerCallProcessor):
    """Ends a row (forces the stop token) as soon as its answer can no longer be one JSON object.

    Every metric but BLEU is unchanged by construction: such an answer fails to parse whatever
    follows (metrics.parse_object needs exactly one JSON object). What it saves is decoding: a
    zero-shot base model that opens with prose or a code fence would otherwise run to
    `evaluate.max_new_tokens`. BLEU is computed on the shorter text that was actually produced.
    `intervened` marks the rows it stopped.
    """

    def __init__(self, tokenizer: Any) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.stops, self.stop = _stop_ids(tokenizer)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Rows whose answer is hopeless get only the stop token; others pass unchanged."""
        self._start_if_new(input_ids)
        for row in range(input_ids.shape[0]):
            ids = input_ids[row, self.width :].tolist()
            if self.stops.intersection(ids):
                continue
            if json_object_hopeless(self.tokenizer.decode(ids, skip_special_tokens=True)):
                stop_score = scores[row, self.stop].clone()
                scores[row] = float("-inf")
                scores[row, self.stop] = stop_score if torch.isfinite(stop_score) else 0.0
                self.intervened[row] = True
        return scores


def _stop_ids(tokenizer: Any) -> tuple[set[int], int]:
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    stop = eot if isinstance(eot, int) and eot != tokenizer.unk_token_id else tokenizer.eos_token_id
    return {t for t in (stop, tokenizer.eos_token_id) if t is not None}, stop


class SchemaLogitsProcessor(_PerCallProcessor):
    """Greedy decoding restricted to `grammar`; see the module docstring.

    Args:
        grammar: the task's answer language.
        tokenizer: the model's tokenizer (to decode candidate continuations).

    Attributes:
        intervened: per row of the generate call, whether the constraint changed a choice.
    """

    def __init__(self, grammar: AnswerGrammar, tokenizer: Any) -> None:
        super().__init__()
        self.grammar = grammar
        self.tokenizer = tokenizer
        self.stops, self.stop = _stop_ids(tokenizer)
        self.special = set(tokenizer.all_special_ids) | self.stops

    def _text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def _choose(self, ids: list[int], row_scores: torch.Tensor) -> int:
        """The best-scoring token that keeps the answer valid (the stop token once complete)."""
        if self.grammar.complete(self._text(ids)):
            return self.stop
        tried = 0
        for depth in CANDIDATE_DEPTHS:
            top = torch.topk(row_scores, min(depth, row_scores.shape[-1])).indices.tolist()
            for token in top[tried:]:
                if token not in self.special and self.grammar.allows(self._text([*ids, token])):
                    return token
            tried = len(top)
        return self.stop  # nothing fits among 4096 candidates: end here (the answer will fail)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Scores with every token but the chosen one at -inf, per row (batch, vocab)."""
        self._start_if_new(input_ids)
        out = torch.full_like(scores, float("-inf"))
        for row in range(input_ids.shape[0]):
            ids = input_ids[row, self.width :].tolist()
            if self.stops.intersection(ids):  # finished row: generate pads it, leave it alone
                out[row] = scores[row]
                continue
            token = self._choose(ids, scores[row])
            if token != int(torch.argmax(scores[row])):
                self.intervened[row] = True
            out[row, token] = scores[row, token]
        return out


def answer_processors(task: TaskDefinition, tokenizer: Any, constrained: bool) -> Any:
    """The LogitsProcessorList evaluate, promote and predict all decode with: the schema
    constraint when `constrained` (evaluate.constrained), then the hopeless-answer stop."""
    from transformers import LogitsProcessorList

    schema = [SchemaLogitsProcessor(AnswerGrammar(task), tokenizer)] if constrained else []
    return LogitsProcessorList([*schema, StopHopelessAnswers(tokenizer)])
