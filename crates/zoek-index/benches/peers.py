#!/usr/bin/env python3
"""Peer HNSW libraries on the same TEXMEX files as `ann_bench`, same JSON lines.

Setup (once):
    python3 -m venv target/peers-venv
    target/peers-venv/bin/pip install hnswlib usearch faiss-cpu numpy

Run:
    target/peers-venv/bin/python crates/zoek-index/benches/peers.py \
        --base B.bvecs --query Q.bvecs [--gt GT.ivecs] [--metric l2|cosine|dot] \
        [--m 16] [--efc 200] [--ef 10,20,40,80,100,200] [--threads 2] [--libs hnswlib,usearch,faiss]

Every library gets the same M and ef_construction (layer 0 keeps 2*M links in all
three), builds on --threads threads, and is queried in batch calls: single-threaded
for qps_1t, on --threads threads for qps_all. Each timing repeats the query set for
at least --min-ms. open_ms is the time to load the saved index from disk
(usearch also reports view_ms, its memory-mapped view). rss_mb is the process RSS
after the queries, open_rss_delta_mb the growth caused by loading.
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np


def read_vecs(path, limit=None):
    raw = np.fromfile(path, dtype=np.uint8)
    dim = int(raw[:4].view(np.int32)[0])
    if path.endswith(".bvecs"):
        rec = 4 + dim
        rows = raw.reshape(-1, rec)[:, 4:]
        out = rows.astype(np.float32)
    elif path.endswith(".fvecs") or path.endswith(".ivecs"):
        rec = 4 + 4 * dim
        rows = raw.reshape(-1, rec)[:, 4:].copy()
        out = rows.view(np.int32 if path.endswith(".ivecs") else np.float32)
    else:
        raise SystemExit(f"unknown vector file {path}")
    return np.ascontiguousarray(out[:limit] if limit else out)


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def timed(min_s, n, fn):
    t = time.perf_counter()
    passes = 0
    while passes == 0 or time.perf_counter() - t < min_s:
        fn()
        passes += 1
    return passes * n / (time.perf_counter() - t)


def timed_cpu(min_s, n, fn):
    """Queries per on-CPU second of the calling thread (single-threaded calls run there)."""
    t, c = time.perf_counter(), time.thread_time()
    passes = 0
    while passes == 0 or time.perf_counter() - t < min_s:
        fn()
        passes += 1
    return passes * n / (time.thread_time() - c)


def recall(found, gt, k):
    hits = sum(len(set(f[:k].tolist()) & set(g[:k].tolist())) for f, g in zip(found, gt))
    return hits / (len(found) * k)


def distances(base, q, ids, metric):
    x = base[np.asarray(ids)]
    if metric == "l2":
        return ((x - q) ** 2).sum(axis=1)
    if metric == "cosine":
        return 1 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q) + 1e-30)
    return -(x @ q)


def recall_by_distance(found, gt, base, queries, metric, k):
    """ann-benchmarks' recall: a hit is any result no farther than the k-th true neighbour,
    so returning one of several identical vectors is not a miss."""
    hits = 0
    for f, g, q in zip(found, gt, queries):
        limit = distances(base, q, [g[k - 1]], metric)[0]
        limit += 1e-5 * max(abs(limit), 1.0)
        hits += int((distances(base, q, f[:k], metric) <= limit).sum())
    return hits / (len(found) * k)


def brute_force(base, queries, metric, k):
    out = []
    for q in queries:
        if metric == "l2":
            d = ((base - q) ** 2).sum(axis=1)
        elif metric == "cosine":
            d = 1 - (base @ q) / (np.linalg.norm(base, axis=1) * np.linalg.norm(q) + 1e-30)
        else:
            d = -(base @ q)
        out.append(np.argsort(d, kind="stable")[:k])
    return np.array(out)


class Hnswlib:
    name = "hnswlib"

    def __init__(self, a, dim, n):
        import hnswlib

        self.mod = hnswlib
        self.space = {"l2": "l2", "cosine": "cosine", "dot": "ip"}[a.metric]
        self.dim = dim
        self.idx = hnswlib.Index(space=self.space, dim=dim)
        self.idx.init_index(max_elements=n, M=a.m, ef_construction=a.efc, random_seed=a.seed)

    def build(self, base, threads):
        self.idx.add_items(base, np.arange(len(base)), num_threads=threads)

    def save_load(self, path):
        self.idx.save_index(path)
        return self.load(path)

    def load(self, path):
        before = rss_mb()
        t = time.perf_counter()
        idx = self.mod.Index(space=self.space, dim=self.dim)
        idx.load_index(path)
        ms = (time.perf_counter() - t) * 1e3
        delta = rss_mb() - before
        self.idx = idx
        return ms, delta, {}

    def search(self, q, k, ef, threads):
        self.idx.set_ef(ef)
        labels, _ = self.idx.knn_query(q, k=k, num_threads=threads)
        return labels


class Usearch:
    name = "usearch"

    def __init__(self, a, dim, n):
        from usearch.index import Index

        self.Index = Index
        self.idx = Index(
            ndim=dim,
            metric={"l2": "l2sq", "cosine": "cos", "dot": "ip"}[a.metric],
            dtype="f32",
            connectivity=a.m,
            expansion_add=a.efc,
            expansion_search=64,
        )

    def build(self, base, threads):
        self.idx.add(np.arange(len(base), dtype=np.uint64), base, threads=threads)

    def save_load(self, path):
        self.idx.save(path)
        return self.load(path)

    def load(self, path):
        t = time.perf_counter()
        view = self.Index.restore(path, view=True)
        view_ms = (time.perf_counter() - t) * 1e3
        del view
        before = rss_mb()
        t = time.perf_counter()
        idx = self.Index.restore(path)
        ms = (time.perf_counter() - t) * 1e3
        delta = rss_mb() - before
        self.idx = idx
        return ms, delta, {"view_ms": view_ms}

    def search(self, q, k, ef, threads):
        self.idx.expansion_search = ef
        return self.idx.search(q, k, threads=threads).keys


class Faiss:
    name = "faiss"

    def __init__(self, a, dim, n):
        import faiss

        self.faiss = faiss
        metric = faiss.METRIC_L2 if a.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        self.normalise = a.metric == "cosine"
        self.idx = faiss.IndexHNSWFlat(dim, a.m, metric)
        self.idx.hnsw.efConstruction = a.efc

    def prep(self, x):
        if self.normalise:
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
        return np.ascontiguousarray(x, dtype=np.float32)

    def build(self, base, threads):
        self.faiss.omp_set_num_threads(threads)
        self.idx.add(self.prep(base))

    def save_load(self, path):
        self.faiss.write_index(self.idx, path)
        return self.load(path)

    def load(self, path):
        before = rss_mb()
        t = time.perf_counter()
        idx = self.faiss.read_index(path)
        ms = (time.perf_counter() - t) * 1e3
        delta = rss_mb() - before
        self.idx = idx
        return ms, delta, {}

    def search(self, q, k, ef, threads):
        self.faiss.omp_set_num_threads(threads)
        self.idx.hnsw.efSearch = ef
        _, labels = self.idx.search(self.prep(q), k)
        return labels


LIBS = {"hnswlib": Hnswlib, "usearch": Usearch, "faiss": Faiss}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--gt")
    p.add_argument("--metric", default="l2", choices=["l2", "cosine", "dot"])
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--efc", type=int, default=200)
    p.add_argument("--ef", default="10,20,40,80,100,200")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--limit", type=int)
    p.add_argument("--min-ms", type=int, default=1000)
    p.add_argument("--name")
    p.add_argument("--seed", type=int, default=100, help="hnswlib level seed")
    p.add_argument("--libs", default="hnswlib,usearch,faiss")
    p.add_argument("--workdir", default=tempfile.gettempdir())
    p.add_argument("--reuse", action="store_true", help="keep saved indexes and load them instead of building")
    a = p.parse_args()

    base = read_vecs(a.base, a.limit)
    queries = read_vecs(a.query)
    if a.gt and os.path.exists(a.gt) and not a.limit:
        gt = read_vecs(a.gt)
    else:
        gt = brute_force(base, queries, a.metric, a.k)
    n, dim = base.shape
    dataset = a.name or os.path.splitext(os.path.basename(a.base))[0]
    for lib in a.libs.split(","):
        impl = LIBS[lib](a, dim, n)
        path = os.path.join(a.workdir, f"peer-{lib}-{dataset}.idx")
        if a.reuse and os.path.exists(path):
            build_s = 0.0
            open_ms, open_delta, extra = impl.load(path)
        else:
            t = time.perf_counter()
            impl.build(base, a.threads)
            build_s = time.perf_counter() - t
            open_ms, open_delta, extra = impl.save_load(path)
        size = os.path.getsize(path)
        for ef in [int(x) for x in a.ef.split(",")]:
            impl.search(queries, a.k, ef, 1)  # warm-up
            found = impl.search(queries, a.k, ef, 1)
            qps_1t = timed(a.min_ms / 1e3, len(queries), lambda: impl.search(queries, a.k, ef, 1))
            qps_all = timed(a.min_ms / 1e3, len(queries), lambda: impl.search(queries, a.k, ef, a.threads))
            qps_1t_cpu = timed_cpu(a.min_ms / 1e3, len(queries), lambda: impl.search(queries, a.k, ef, 1))
            line = {
                "lib": lib, "dataset": dataset, "n": n, "dim": dim, "m": a.m, "efc": a.efc,
                "threads": a.threads, "ef": ef, "recall_at_10": recall(found, gt, a.k),
                "recall_at_10_dist": recall_by_distance(found, gt, base, queries, a.metric, a.k),
                "qps_1t": round(qps_1t), "qps_all": round(qps_all), "qps_1t_cpu": round(qps_1t_cpu), "build_s": build_s,
                "open_ms": open_ms, "index_bytes": size, "rss_mb": round(rss_mb()),
                "open_rss_delta_mb": open_delta,
            }
            line.update(extra)
            print(json.dumps(line), flush=True)
        if not a.reuse:
            os.remove(path)
        del impl


if __name__ == "__main__":
    main()
