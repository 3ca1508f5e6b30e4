"""Schema-constrained decoding: the grammar, the logits processor, and its use in evaluate."""

from __future__ import annotations

import json

import pytest
import torch

from adapterflow.evaluate.constrain import (
    AnswerGrammar,
    SchemaLogitsProcessor,
    StopHopelessAnswers,
    json_object_hopeless,
)
from adapterflow.evaluate.metrics import parse_object
from adapterflow.tasks import get_task


@pytest.fixture(scope="module")
def triage(shipped_params):
    return get_task(shipped_params.prepare, "triage")


@pytest.fixture(scope="module")
def papers(shipped_params):
    return get_task(shipped_params.prepare, "papers")


def test_grammar_accepts_exactly_the_rendered_targets(triage, papers):
    target = triage.render_target({"severity": "low", "component": "ui", "reproducibility": "rare"})
    grammar = AnswerGrammar(triage)
    assert grammar.complete(target)
    assert all(grammar.allows(target[:i]) for i in range(len(target) + 1))  # every prefix
    assert not grammar.allows('{"severity": "low", "component": "gpu"')  # invented component
    assert not grammar.allows('{"component": ')  # wrong key order
    assert not grammar.complete(target[:-1])
    paper = papers.render_target({"title": "Bin Packing via LP", "primary_category": "cs.DS"})
    assert AnswerGrammar(papers).complete(paper)
    assert not AnswerGrammar(papers).allows(paper.replace("cs.DS", "math.CO"))


class CharTokenizer:
    """A stand-in tokenizer: one token per character of VOCAB plus a few multi-character pieces,
    so that a greedy walk over random scores exercises the processor without a model."""

    def __init__(self, pieces: list[str]) -> None:
        self.vocab = ["<eos>", "<end_of_turn>", "<unk>", *pieces]
        self.eos_token_id, self.unk_token_id = 0, 2
        self.all_special_ids = [0, 1, 2]

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.vocab.index(token) if token in self.vocab else self.unk_token_id

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "".join(self.vocab[i] for i in ids)


def _walk(processor, tokenizer, scores_for_step, steps=200):
    ids = torch.tensor([[7, 7, 7]])  # a three-token "prompt"
    for step in range(steps):
        scores = processor(ids, scores_for_step(step))
        token = int(torch.argmax(scores[0]))
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        if token in (0, 1):
            break
    return tokenizer.decode(ids[0, 3:].tolist())


def test_processor_turns_random_scores_into_a_valid_answer(triage):
    pieces = sorted(set('{}":, abcdefghijklmnopqrstuvwxyz_')) + ['{"', '": "', '", "', "high"]
    tokenizer = CharTokenizer(pieces)
    generator = torch.Generator().manual_seed(0)
    processor = SchemaLogitsProcessor(AnswerGrammar(triage), tokenizer)
    text = _walk(processor, tokenizer, lambda _: torch.randn(1, len(tokenizer.vocab),
                                                               generator=generator))  # fmt: skip
    assert text.endswith("<end_of_turn>")
    answer = text.removesuffix("<end_of_turn>")
    assert triage.parse_target(answer) == json.loads(answer)  # schema-valid, enums included
    assert processor.intervened == [True]  # random scores had to be steered


def test_processor_leaves_a_valid_greedy_path_alone(triage):
    target = (
        triage.render_target({"severity": "high", "component": "ui", "reproducibility": "always"})
        + "<end_of_turn>"
    )
    tokenizer = CharTokenizer(sorted(set(target.removesuffix("<end_of_turn>"))))
    wanted = [tokenizer.vocab.index(c) for c in target.removesuffix("<end_of_turn>")] + [1]

    def favour(step: int) -> torch.Tensor:  # the "model" already wants exactly the target
        scores = torch.zeros(1, len(tokenizer.vocab))
        scores[0, wanted[step]] = 5.0
        return scores

    processor = SchemaLogitsProcessor(AnswerGrammar(triage), tokenizer)
    assert _walk(processor, tokenizer, favour) == target
    assert processor.intervened == [False]


def test_a_new_generate_call_starts_a_new_record(triage):
    tokenizer = CharTokenizer(sorted(set('{}":, abcdefghijklmnopqrstuvwxyz_')))
    processor = SchemaLogitsProcessor(AnswerGrammar(triage), tokenizer)
    processor(torch.tensor([[7, 7]]), torch.zeros(1, len(tokenizer.vocab)))
    assert processor.width == 2 and len(processor.intervened) == 1
    processor(torch.tensor([[8, 8, 8], [9, 9, 9]]), torch.zeros(2, len(tokenizer.vocab)))
    assert processor.width == 3 and len(processor.intervened) == 2


@pytest.mark.parametrize(
    ("text", "hopeless"),
    [
        ("", False),
        ("  {", False),
        ('{"title": "a } b", "x": [1, {"y": 2}]', False),  # braces inside strings do not count
        ('{"a": "\\" }"', False),  # an escaped quote keeps the string open
        ('{"a": 1}  \n', False),  # closed, only whitespace after: still exactly one object
        ("Here is the JSON", True),
        ("```json", True),
        ('{"a": 1} and more', True),
        ('{"a": 1}{', True),
    ],
)
def test_hopeless_means_no_continuation_can_parse(text, hopeless):
    assert json_object_hopeless(text) is hopeless
    if hopeless:  # whatever follows, the answer never parses as one object
        for tail in ("", "}", '"}', ' {"b": 2}', "\n"):
            assert parse_object(text + tail) is None


def test_hopeless_rows_get_only_the_stop_token():
    tokenizer = CharTokenizer(sorted(set('{}":, abcdefghijklmnopqrstuvwxyz_H')))
    stopper = StopHopelessAnswers(tokenizer)
    h, brace = tokenizer.vocab.index("H"), tokenizer.vocab.index("{")
    ids = torch.tensor([[7, h], [7, brace]])  # prompt width 1: row 0 answered "H", row 1 "{"
    stopper.width, stopper.prompt, stopper.intervened = 1, ids[:, :1].clone(), [False, False]
    scores = torch.randn(2, len(tokenizer.vocab))
    kept = scores[1].clone()
    out = stopper(ids, scores.clone())
    assert int(torch.argmax(out[0])) == 1 and torch.isinf(out[0]).sum() == len(tokenizer.vocab) - 1
    assert torch.equal(out[1], kept)  # a row that may still become an object is left alone
    assert stopper.intervened == [True, False]
