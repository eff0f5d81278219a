#!/usr/bin/env bash
# Runs the zoek-index ANN comparison: zoek (ann_bench) and its peers (peers.py) on
# bigann10k and a 100k x 384 clustered synthetic set, then open time / RSS on a 1M x 384
# index. Results go to $OUT (default target/index/ann-results) as JSON lines.
#
#   bash crates/zoek-index/benches/run_ann.sh            # everything
#   STEPS="bigann synth" bash crates/zoek-index/benches/run_ann.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/index}
OUT=${OUT:-$CARGO_TARGET_DIR/ann-results}
STEPS=${STEPS:-"bigann synth big"}
THREADS=${THREADS:-2}
EFS=${EFS:-10,20,40,80,100,200}
PY=${PY:-target/peers-venv/bin/python}
BIN=$CARGO_TARGET_DIR/release/examples/ann_bench
mkdir -p "$OUT"

if [ ! -x "$PY" ]; then
  python3 -m venv target/peers-venv
  target/peers-venv/bin/pip install hnswlib usearch faiss-cpu numpy
fi
nice -n 10 cargo build --release -p zoek-index --example ann_bench ${FEATURES:+--features $FEATURES}
HNSW_RS=${FEATURES:+--hnsw-rs}

for step in $STEPS; do
  case $step in
  bigann)
    D=../shared/data/bigann10k
    [ -d "$D" ] || { echo "SKIPPED bigann: $D absent"; continue; }
    args=(--base $D/bigann10k_base.bvecs --query $D/bigann10k_query.bvecs --gt $D/bigann10k_groundtruth.ivecs
          --metric l2 --m 16 --efc 200 --threads "$THREADS" --ef "$EFS" --name bigann10k)
    nice -n 10 "$BIN" "${args[@]}" --index "$OUT/bigann10k.hnsw" $HNSW_RS | tee "$OUT/bigann10k.jsonl"
    nice -n 10 "$PY" crates/zoek-index/benches/peers.py "${args[@]}" --workdir "$OUT" | tee -a "$OUT/bigann10k.jsonl"
    ;;
  synth)
    S=$CARGO_TARGET_DIR/synth100k
    nice -n 10 "$BIN" --synthetic 100000,384,1000 --out-dir "$S" --metric cosine --gen-only
    args=(--base $S/base.fvecs --query $S/query.fvecs --gt $S/gt.ivecs
          --metric cosine --m 16 --efc 200 --threads "$THREADS" --ef "$EFS" --name synth100k)
    nice -n 10 "$BIN" "${args[@]}" --index "$OUT/synth100k.hnsw" $HNSW_RS | tee "$OUT/synth100k.jsonl"
    nice -n 10 "$BIN" "${args[@]}" --index "$OUT/synth100k-int8.hnsw" --int8 rescore | tee -a "$OUT/synth100k.jsonl"
    nice -n 10 "$BIN" "${args[@]}" --index "$OUT/synth100k-int8only.hnsw" --int8 only | tee -a "$OUT/synth100k.jsonl"
    nice -n 10 "$PY" crates/zoek-index/benches/peers.py "${args[@]}" --workdir "$OUT" | tee -a "$OUT/synth100k.jsonl"
    ;;
  big)
    B=$CARGO_TARGET_DIR/synth1m
    nice -n 10 "$BIN" --synthetic 1000000,384,100 --out-dir "$B" --metric cosine --gen-only
    if [ ! -f "$OUT/synth1m.hnsw" ]; then
      nice -n 10 "$BIN" --base $B/base.fvecs --query $B/query.fvecs --gt $B/gt.ivecs --metric cosine \
        --m 16 --efc "${BIG_EFC:-40}" --threads "$THREADS" --ef 100 --index "$OUT/synth1m.hnsw" --name synth1m \
        | tee "$OUT/synth1m.jsonl"
    fi
    # A fresh process: open time and RSS growth of open alone, then of 100 cold queries.
    "$BIN" --open-only "$OUT/synth1m.hnsw" --query $B/query.fvecs --nq 100 | tee -a "$OUT/synth1m.jsonl"
    ;;
  esac
done
