#!/usr/bin/env bash
# One prepared check of adapterflow on a GPU machine (issue #12), in a single call of < 5 minutes.
#
#   bash benchmarks/gpu_check.sh --download   # HERE, with pip access: fetch the wheels into .whl/
#   bash benchmarks/gpu_check.sh              # THERE, on the GPU machine, with .whl/ carried
#
# The GPU machine's image has torch, transformers and peft but not bitsandbytes, pydantic, cronsim
# or jsonschema (nor some of their needs); it cannot reach a package index, so they travel as
# wheels (versions from requirements.lock, CPython 3.12, manylinux x86_64) and are installed into
# /tmp/site. Then, stopping at the first failure (set -e; the failing step is named):
#   1. versions and the GPU;
#   2. the gpu-marked tests plus the device-agnostic generation/packing/dtype tests, and at the
#      same time one train -> evaluate -> promote -> predict through the CLI on the tiny model;
#   3. benchmarks/train_throughput.py on a random Gemma-3-270M-shaped model (18 layers, 262k
#      vocabulary): LoRA and QLoRA with a 16k-token budget, and LoRA with padding-free packing;
#   4. benchmarks/eval_throughput.py on the same model (4-bit), and
#      benchmarks/batch_invariance.py (does a padded batch change the logits on this GPU?).
# Logs and JSON results go to $OUT (the device tool's output folder) or ./gpu_check_out.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(bitsandbytes pydantic pydantic_core annotated-types typing-inspection typing_extensions
          cronsim jsonschema jsonschema-specifications referencing rpds-py)

if [[ "${1:-}" == "--download" ]]; then
    mkdir -p .whl
    for name in "${PACKAGES[@]}"; do
        pin=$(grep -i -E "^${name//[-_]/[-_]}==" requirements.lock) || {
            echo "no pin for $name in requirements.lock" >&2
            exit 1
        }
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
            --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$pin"
    done
    du -sh .whl
    exit 0
fi

OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
STEP="start"
trap 'echo "GPU CHECK FAILED at step: $STEP (see $LOG)" | tee -a "$LOG" >&2' ERR
step() {
    STEP="$1"
    echo "=== $(date -u +%H:%M:%S) $1" | tee -a "$LOG"
}
export PYTHONUNBUFFERED=1
source runs/env.sh

step "install carried wheels"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl 2>&1 | tee -a "$LOG"
    export PYTHONPATH=/tmp/site:$PWD
elif python3 -c "import bitsandbytes, pydantic, cronsim, jsonschema" 2>/dev/null; then
    echo "no .whl/, but the packages are installed: nothing to carry" | tee -a "$LOG"
    export PYTHONPATH=$PWD
else
    echo "no wheels in .whl/: run 'bash benchmarks/gpu_check.sh --download' here, carry .whl"
    false
fi

step "versions and device"
python3 - <<'EOF' 2>&1 | tee -a "$LOG"
import bitsandbytes, peft, pydantic, torch, transformers
assert torch.cuda.is_available(), "no CUDA device visible: this check needs the GPU machine"
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name())
print("transformers", transformers.__version__, "peft", peft.__version__,
      "bitsandbytes", bitsandbytes.__version__, "pydantic", pydantic.__version__)
print("bf16", torch.cuda.is_bf16_supported())
EOF
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$LOG"

step "tests (gpu-marked and device-agnostic) + tiny train->evaluate->promote->predict"
python3 benchmarks/tiny_pipeline.py --out "$OUT/tiny_pipeline.json" >"$OUT/tiny_pipeline.log" 2>&1 &
PIPELINE=$!
python3 -m pytest -q -p no:cacheprovider -m "gpu or not slow" \
    tests/unit/test_train_loop.py tests/unit/test_evaluate_generate.py \
    tests/unit/test_train_packing.py tests/unit/test_modeling_dtype.py 2>&1 | tee -a "$LOG"
STEP="tiny pipeline (log: tiny_pipeline.log)"
wait "$PIPELINE"
cat "$OUT/tiny_pipeline.json" | tee -a "$LOG"

step "build a random Gemma-3-270M-shaped model"
python3 -c "from pathlib import Path; from tests.shaped_model import build_shaped_model as b; \
b(Path('/tmp/m270'), 18, 262144)" 2>&1 | tail -1 | tee -a "$LOG"

for run in "lora 16384" "qlora 16384" "lora 16384 --packing"; do
    read -r method budget packing <<<"$run"
    name="train_${method}${packing:+_packed}"
    step "benchmark $name"
    python3 benchmarks/train_throughput.py --model-dir /tmp/m270 --synthetic --method "$method" \
        --batch-size 8 --steps 5 --warmup 2 --tokens-per-batch "$budget" $packing \
        --out "$OUT/$name.json" 2>&1 | tee -a "$LOG"
done

step "benchmark eval (qlora)"
python3 benchmarks/eval_throughput.py --model-dir /tmp/m270 --method qlora --n 8 \
    --max-new-tokens 32 --json "$OUT/eval_qlora.json" 2>&1 | tail -25 | tee -a "$LOG"

step "batch invariance on CUDA (random 270M-shaped model, bf16)"
python3 benchmarks/batch_invariance.py --model-dir /tmp/m270 --method lora --n 8 \
    --max-new-tokens 16 --json "$OUT/batch_invariance.json" 2>&1 | tail -20 | tee -a "$LOG"

step "done: all steps passed"
