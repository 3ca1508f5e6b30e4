"""A randomly initialised model with Gemma 3 270M's shapes, for tests and GPU benchmarks.

Same widths as the real base (models/base/config.json after `import`): hidden 640, MLP 2048,
4 query heads sharing 1 key/value head of width 256, a 512-token sliding window on the local
layers, one global layer after every five local ones, and the same RoPE bases. Tests reduce the
depth (`num_layers`) and the vocabulary (the tiny word-level tokenizer's) to stay fast; the GPU
benchmarks keep 18 layers and Gemma's 262,144-token vocabulary (the tokenizer only ever emits its
own small ids, so the output layer costs what the real one does). No download; seconds to build.

    python -c "from pathlib import Path; from tests.shaped_model import build_shaped_model as b; \
        b(Path('/tmp/m270'), 18, 262144)"
"""

from __future__ import annotations

from pathlib import Path

from transformers import Gemma3TextConfig

from tests.tiny_model import build_tokenizer, save_random_model

GEMMA3_270M_VOCAB = 262_144


def layer_types(num_layers: int) -> list[str]:
    """Gemma 3's pattern (5 sliding, then 1 full); a short stack still gets a global layer."""
    if num_layers < 6:
        return ["sliding_attention", "full_attention"] * (num_layers // 2) + [
            "sliding_attention"
        ] * (num_layers % 2)
    return [
        "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(num_layers)
    ]


def build_shaped_model(
    out_dir: Path, num_layers: int = 2, vocab_size: int | None = None, seed: int = 0
) -> Path:
    """Write a random Gemma-3-270M-shaped model + the tiny tokenizer to `out_dir`, return it.

    Args:
        out_dir: destination folder (created).
        num_layers: decoder layers (the real model has 18).
        vocab_size: embedding rows; None = the tiny tokenizer's vocabulary (fast tests).
        seed: torch seed of the random initialisation.
    """
    tokenizer = build_tokenizer()
    config = Gemma3TextConfig(
        vocab_size=vocab_size or len(tokenizer),
        hidden_size=640,
        intermediate_size=2048,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=256,
        query_pre_attn_scalar=256,
        sliding_window=512,
        layer_types=layer_types(num_layers),
        max_position_embeddings=32768,
        rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        },
        rms_norm_eps=1e-6,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<end_of_turn>"),
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=True,
    )
    return save_random_model(config, tokenizer, out_dir, seed)
