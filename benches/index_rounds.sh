#!/usr/bin/env bash
# `zoek index` of one file by an older build and this one, interleaved in rotating order so
# that machine load falls on all of them alike; prints wall, CPU and peak RSS per run.
#
#   bash benches/index_rounds.sh [-r ROUNDS] OLD_ZOEK NEW_ZOEK FILE
#
# OLD_ZOEK is a `zoek` binary built from another commit into another target directory
# (e.g. `git worktree add /tmp/old 2bf6158 && CARGO_TARGET_DIR=/tmp/old-target cargo build
# --release --bin zoek` there). The new binary runs twice per round: the default build and
# `--sentence-vectors late`. The model is $ZOEK_MODEL_DIR or models/multilingual-e5-small-q4.
set -euo pipefail
rounds=3
if [[ "${1:-}" == "-r" ]]; then rounds="$2"; shift 2; fi
[[ $# -eq 3 ]] || { echo "usage: index_rounds.sh [-r ROUNDS] OLD_ZOEK NEW_ZOEK FILE" >&2; exit 2; }
old="$1" new="$2" input="$3"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${ZOEK_MODEL_DIR:-$root/models/multilingual-e5-small-q4}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
run() {
  local name="$1"; shift
  rm -rf "$out/$name"
  /usr/bin/time -f "$name: wall %e s, CPU %U+%S s, peak RSS %M KB" \
    "$@" --out "$out/$name" "$input" 2>&1 >/dev/null | tail -n 1
}
names=(old separate late)
for ((r = 0; r < rounds; r++)); do
  for i in 0 1 2; do
    case "${names[$(((i + r) % 3))]}" in
      old) run old "$old" --quiet --model "$model" index ;;
      separate) run separate "$new" --quiet --model "$model" index ;;
      late) run late "$new" --quiet --model "$model" index --sentence-vectors late ;;
    esac
  done
done
