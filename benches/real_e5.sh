#!/usr/bin/env bash
# zoek-index on real multilingual-e5-small vectors: the sentence vectors of a zoek collection
# (e.g. one built from ../shared/data/nl-laws) as the base set, PolicyQA questions embedded with
# the query prefix as queries; exact ground truth by brute force; zoek and its peers (hnswlib,
# usearch, faiss at the same M / ef_construction) in the same run.
#
#   zoek index --out target/bench/laws100k target/bench/nl-laws-100k.jsonl
#   bash benches/real_e5.sh target/bench/laws100k
set -euo pipefail
cd "$(dirname "$0")/.."
coll=${1:?usage: real_e5.sh COLLECTION_DIR}
out=${OUT:-target/bench/real-e5}
# Built by: cargo build --release --bin zoek && cargo build --release -p zoek-index --example ann_bench
zoek=${ZOEK_BIN:-target/release/zoek}
ann=${ANN_BENCH:-target/release/examples/ann_bench}
mkdir -p "$out"
# A single-build collection keeps its files at the top; a segmented one in seg-*/ (the
# base set is then the sentence vectors of its largest segment: run `zoek compact` first
# to have them all in one).
vec=$(ls -S "$coll"/*.sentences.f32 "$coll"/seg-*/*.sentences.f32 2>/dev/null | head -1 || true)
[ -n "$vec" ] || { echo "no sentence vectors under $coll" >&2; exit 1; }
python3 - "$vec" "$out/base.fvecs" <<'PY'
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    head = f.read(32)
    assert head[:6] == b"ZQVECS", "not a zoek vector file"
    width, count = struct.unpack_from("<IQ", head, 12)
    with open(dst, "wb") as o:
        pre = struct.pack("<i", width)
        for _ in range(count):
            o.write(pre); o.write(f.read(4 * width))
print("base vectors:", count, "x", width, file=sys.stderr)
PY
python3 - > "$out/questions.txt" <<'PY'
import json
d = json.load(open("../shared/data/policyqa-nl/policyqa-train.json"))
qs = [q["question"].replace("\n", " ") for a in d["data"] for p in a["paragraphs"] for q in p["qas"]]
print("\n".join(qs[:400]))
PY
mapfile -t qs < "$out/questions.txt"
"$zoek" --quiet embed --json "${qs[@]}" | python3 -c '
import json, struct, sys
v = json.load(sys.stdin)["vectors"]
with open(sys.argv[1], "wb") as o:
    for row in v:
        o.write(struct.pack("<i", len(row))); o.write(struct.pack("<%df" % len(row), *row))
print("queries:", len(v), file=sys.stderr)' "$out/query.fvecs"
A="--base $out/base.fvecs --query $out/query.fvecs --metric cosine --m 16 --efc 200 --threads 2 --ef ${EFS:-10,20,40,80,100} --name real-e5"
"$ann" $A --index "$out/zoek.hnsw" > "$out/results.jsonl"
target/peers-venv/bin/python crates/zoek-index/benches/peers.py $A --libs "${LIBS:-hnswlib,usearch,faiss}" --workdir "$out" >> "$out/results.jsonl"
python3 crates/zoek-index/benches/table.py "$out/results.jsonl"
