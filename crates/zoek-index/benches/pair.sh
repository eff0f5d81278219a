#!/usr/bin/env bash
# Back-to-back zoek vs hnswlib on the synthetic 100k x 384 set (made by run_ann.sh
# STEPS=synth), so that both builds see the same machine load.
set -euo pipefail
cd "$(dirname "$0")/../../.."
T=${CARGO_TARGET_DIR:-target/index}
S=$T/synth100k
R=${OUT:-$T/ann-results}
mkdir -p "$R"
A="--base $S/base.fvecs --query $S/query.fvecs --gt $S/gt.ivecs --metric cosine --m 16 --efc 200 --threads 2 --ef 20,100 --name synth100k-pair"
nice -n 10 "$T/release/examples/ann_bench" $A --index "$R/pair.hnsw" > "$R/pair.jsonl"
nice -n 10 target/peers-venv/bin/python crates/zoek-index/benches/peers.py $A --libs hnswlib --workdir "$R" >> "$R/pair.jsonl"
