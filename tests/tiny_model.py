"""A tiny, randomly initialised Gemma-3-shaped model and tokenizer, built in seconds, offline.

Used by test fixtures in place of the real 270M base model: same architecture class, same chat
format, a word-level tokenizer trained on the fly (no download). `build_tiny_model(dir)` saves both
with `save_pretrained`, exactly like the `import` stage does for the real model.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

from adapterflow.chat import GEMMA_CHAT_TEMPLATE

SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
TRAINING_TEXT = """
user model system crash game audio sound graphics rendering shader network multiplayer save file
ui button menu performance slow fps lag always sometimes rare rarely intermittent critical high
medium low other severity component reproducibility title primary_category cs.LG cs.AI cs.CL cs.DS
cs.SE paper learning language model graph algorithm software testing neural network abstract we
propose a new method for the problem of and in on with to is are this that results show
{ } [ ] " : , . ! ? ( ) - _ / 0 1 2 3 4 5 6 7 8 9 true false null
"""


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over a small vocabulary, with Gemma's special tokens."""
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, min_frequency=1)
    tok.train_from_iterator([TRAINING_TEXT] * 2, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
    )
    fast.chat_template = GEMMA_CHAT_TEMPLATE
    return fast


def build_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """Write a tiny random Gemma-3 text model + tokenizer to `out_dir` and return it."""
    tokenizer = build_tokenizer()
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=512,
        sliding_window=64,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<end_of_turn>"),
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=True,
    )
    return save_random_model(config, tokenizer, out_dir, seed)


def save_random_model(
    config: Gemma3TextConfig, tokenizer: PreTrainedTokenizerFast, out_dir: Path, seed: int
) -> Path:
    """Initialise a Gemma 3 model from `config` with `seed` and save it with `tokenizer`, the way
    the import stage saves the real one; returns `out_dir`."""
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
