#!/usr/bin/env python3
"""Markdown tables from ann_bench / peers.py JSON lines, with ratios against hnswlib.

    python3 crates/zoek-index/benches/table.py target/index/ann-results/*.jsonl
"""

import json
import sys
from collections import defaultdict


def lib_name(d):
    if d["lib"] == "zoek" and d.get("int8", "None") != "None":
        return "zoek " + d["int8"].replace("Int8 { rescore: true }", "int8+rescore").replace(
            "Int8 { rescore: false }", "int8 only"
        )
    return d["lib"]


def fmt(x, nd=0):
    if x is None:
        return "–"
    if isinstance(x, float) and nd:
        return f"{x:.{nd}f}"
    return f"{round(x):,}" if isinstance(x, (int, float)) else str(x)


def main():
    rows = defaultdict(list)
    for path in sys.argv[1:]:
        for line in open(path):
            line = line.strip()
            if not line.startswith("{"):
                continue
            d = json.loads(line)
            if d.get("mode") == "open-only":
                continue
            rows[d["dataset"]].append(d)
    for dataset, ds in rows.items():
        base = {d["ef"]: d for d in ds if d["lib"] == "hnswlib"}
        n, dim = ds[0]["n"], ds[0]["dim"]
        print(f"\n### {dataset} ({n:,} x {dim}, M={ds[0]['m']}, ef_construction={ds[0]['efc']})\n")
        print("| lib | ef | recall@10 | QPS 1 thread (CPU time) | × hnswlib | QPS 1t wall | QPS all wall | build s | × hnswlib | open ms | index MB | RSS MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for d in ds:
            h = base.get(d["ef"])
            q_ratio = (d["qps_1t_cpu"] / h["qps_1t_cpu"]) if h and d.get("qps_1t_cpu") else None
            b_ratio = (d["build_s"] / h["build_s"]) if h and d.get("build_s") else None
            size = d.get("index_bytes")
            print(
                f"| {lib_name(d)} | {d['ef']} | {d['recall_at_10']:.4f} | {fmt(d.get('qps_1t_cpu'))} | "
                f"{fmt(q_ratio, 2)} | {fmt(d['qps_1t'])} | {fmt(d['qps_all'])} | {fmt(d.get('build_s'), 1)} | "
                f"{fmt(b_ratio, 2)} | {fmt(d.get('open_ms'), 2)} | "
                f"{fmt(size / 1e6, 1) if size else '–'} | {fmt(d.get('rss_mb'))} |"
            )


if __name__ == "__main__":
    main()
