#!/usr/bin/env bash
# The whole performance check in one call, for a session that has a GPU for a few minutes:
#   bash benchmarks/gpu_session.sh          # cuda: full-size random-weight architectures, bf16
#   bash benchmarks/gpu_session.sh cpu      # the same steps on tiny models (rehearsal, ~1 min)
#   bash benchmarks/gpu_session.sh cuda long   # only step 5, 60-minute recordings (a call of its own:
#                                             # steps 1-4 already use most of one 10-minute call)
# Results go to $OUT (default ./perf-out): perf.jsonl, perf_audio.jsonl, scaling.jsonl, long.jsonl, *.err,
# env.txt.
# If soundfile or soxr is missing there, the wheels in .whl/ (from benchmarks/fetch_device_wheels.sh, carried
# with the call) are installed first.
set -uo pipefail
device="${1:-cuda}"
steps="${2:-all}"
out="${OUT:-perf-out}"
mkdir -p "$out"
if ! python3 -c "import soundfile, soxr" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
if [ "$device" = cuda ]; then
    size=full dtype=bfloat16 clips=4 minutes=60
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/env.txt" 2>&1
else
    size=tiny dtype=float32 clips=3 minutes=1
fi
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
    >>"$out/env.txt" 2>&1
cat "$out/env.txt"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, JSON lines to NAME.jsonl, log to NAME.err
    local name="$1" limit="$2"
    shift 2
    echo "== $name"
    timeout "$limit" "$@" 2>"$out/$name.err" | tee "$out/$name.jsonl"
    local rc="${PIPESTATUS[0]}"
    [ "$rc" = 0 ] || { echo "$name: exit $rc; last lines of $out/$name.err:"; tail -5 "$out/$name.err"; }
}

if [ "$steps" = long ]; then
    # 5. Recordings of any length: Qwen2-Audio (30-s windows) and AF3 (10-minute windows) on 60 minutes of
    #    audio, windowed and stitched (benchmarks/long_perf.py: time, peak memory beyond the weights).
    step long 560 python3 benchmarks/long_perf.py --device "$device" --size "$size" --dtype "$dtype" \
        --minutes "$minutes"
    exit 0
fi

# 1. The measurement: naive vs optimized, 30-s clips x 3 queries, and AF3 on 10 minutes.
step perf 240 python3 benchmarks/perf.py --device "$device" --size "$size" --dtype "$dtype" --clips "$clips"
# 2. Steering inside the prefix (audio positions): the recomputation from the first steered layer.
step perf_audio 150 python3 benchmarks/perf.py --device "$device" --size "$size" --dtype "$dtype" \
    --clips 2 --long-minutes 0 --positions audio
# 3. Cost against audio length and queries per clip.
step scaling 150 python3 benchmarks/scaling.py --device "$device" --size "$size" --dtype "$dtype" --repeats 1
# 4. The other families at full size (random weights, bf16): one 30-s clip (or their longest), 3 queries.
step perf_families 200 python3 benchmarks/perf.py --device "$device" --size "$size" --dtype "$dtype" \
    --clips 1 --long-minutes 0 --families musicflamingo,qwen2.5-omni,qwen3-omni,voxtral,granite-speech,phi4-multimodal,gemma3n
# 5. The tables for docs/performance.md, from the JSON lines above.
echo "== tables"
python3 benchmarks/perf_table.py "$out" | tee "$out/tables.md"
