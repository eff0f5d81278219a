#!/usr/bin/env bash
# CPU use of one command over time: samples the process's user + system time every
# INTERVAL seconds (from /proc) and prints, per sample, how many cores it kept busy, then a
# summary (wall, CPU seconds, mean cores, and the share of samples under 1.5 cores).
#
#   bash benches/cpu_trace.sh [-i INTERVAL] -- COMMAND [ARGS...]
#
# For example the build-throughput trace in the README:
#   bash benches/cpu_trace.sh -i 1 -- target/release/zoek --quiet index --sentence-vectors late \
#       --out /tmp/trace target/bench/laws2k.jsonl
set -euo pipefail
interval=0.5
if [[ "${1:-}" == "-i" ]]; then interval="$2"; shift 2; fi
[[ "${1:-}" == "--" ]] && shift
[[ $# -gt 0 ]] || { echo "usage: cpu_trace.sh [-i INTERVAL] -- COMMAND [ARGS...]" >&2; exit 2; }
hz=$(getconf CLK_TCK)
"$@" &
pid=$!
# utime + stime (fields 14 and 15) of the whole process, exited threads included, in clock
# ticks; the command name (field 2) may hold spaces, so fields are counted after it.
ticks() {
  local rest
  rest=$(sed 's/^.*) //' /proc/"$pid"/stat 2>/dev/null) || return 0
  # shellcheck disable=SC2086
  set -- $rest
  echo $(( ${12} + ${13} ))
}
start=$(date +%s.%N)
prev=0
prev_t=$start
echo "t_s cores"
while kill -0 "$pid" 2>/dev/null; do
  sleep "$interval"
  now=$(date +%s.%N)
  cur=$(ticks)
  [[ -n "$cur" ]] || continue
  awk -v a="$prev" -v b="$cur" -v t0="$prev_t" -v t1="$now" -v s="$start" -v hz="$hz" \
    'BEGIN { printf "%.1f %.2f\n", t1 - s, (b - a) / hz / (t1 - t0) }'
  prev=$cur
  prev_t=$now
done | tee /tmp/cpu_trace.$$ 
wait "$pid"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" '$2 ~ /^[0-9.]+$/ { n++; sum += $2; if ($2 < 1.5) low++ }
  END { if (n == 0) { printf "wall %.1f s, no samples\n", e - s; exit }
        printf "wall %.1f s, mean %.2f cores over %d samples, %d%% of samples under 1.5 cores\n",
        e - s, sum / n, n, 100 * low / n }' /tmp/cpu_trace.$$
rm -f /tmp/cpu_trace.$$
