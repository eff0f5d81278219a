"""The Spark build measured against a single-process `zoek index` of the same records.

    $(examples/spark/setup) examples/spark/compare.py [--work DIR] [--questions 400]

Records: PolicyQA-NL's 400 contexts plus the first 1,000 nl-laws paragraphs
($ZOEK_SHARED, default ../shared). Builds, all with exact search: `zoek index`; Spark
local[2] with 4 partitions; the same with partition 2's first attempt failing after it
wrote its segment; a standalone cluster on loopback (a master and 2 workers of 1 core).
Prints build times and, for every question, whether the Spark collections give the same
top-10 documents in the same order with scores within 1e-6.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXACT = "1000000000"


def write_records(shared: Path, path: Path):
    qa = json.loads((shared / "data/policyqa-nl/policyqa-train.json").read_text(encoding="utf-8"))
    questions = []
    with path.open("w", encoding="utf-8") as out:
        for i, page in enumerate(qa["data"]):
            for j, p in enumerate(page["paragraphs"]):
                out.write(json.dumps({"id": f"policyqa-{i}-{j}", "text": p["context"]}, ensure_ascii=False) + "\n")
                questions += [q["question"] for q in p["qas"]]
        with (shared / "data/nl-laws/nl_laws_paragraphs.jsonl").open(encoding="utf-8") as laws:
            for _, line in zip(range(1000), laws):
                out.write(line if line.endswith("\n") else line + "\n")
    return questions


def timed(args, env=None):
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{args[:3]} failed:\n{done.stderr[-3000:]}")
    return time.monotonic() - started, done


def answers(path: Path, questions, engine):
    import zoek

    c = zoek.Collection(path, engine=engine)
    return [[(h.doc, h.score) for h in c.ask(q, k=10)] for q in questions]


def compare(got, want):
    strict = tied = 0
    worst = 0.0
    for g, w in zip(got, want):
        worst = max([worst] + [abs(a[1] - b[1]) for a, b in zip(g, w)])
        close = len(g) == len(w) and all(abs(a[1] - b[1]) <= 1e-6 for a, b in zip(g, w))
        strict += close and [a[0] for a in g] == [b[0] for b in w]
        norm = lambda hits: sorted(hits, key=lambda h: (-round(h[1], 6), h[0]))
        tied += close and [a[0] for a in norm(g)] == [b[0] for b in norm(w)]
    return strict, tied, worst


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", default=str(ROOT / "target/spark-eval"))
    p.add_argument("--questions", type=int, default=400)
    p.add_argument("--reuse", action="store_true", help="compare the builds of the last run again")
    args = p.parse_args()
    shared = Path(os.environ.get("ZOEK_SHARED", ROOT.parent / "shared"))
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    zoek_bin = str((target / "release/zoek").resolve())
    work = Path(args.work)
    if not args.reuse:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    records = work / "records.jsonl"
    questions = write_records(shared, records)[: args.questions]
    if args.reuse:
        saved = json.loads((work / "builds.json").read_text())
        report(saved["rows"], saved["task_secs"], records, questions, zoek_bin)
        return
    build = [sys.executable, str(ROOT / "examples/spark/build.py"), "--partitions", "4",
             "--zoek", zoek_bin, "--hnsw-threshold", EXACT]
    rows = []
    secs, _ = timed([zoek_bin, "--quiet", "index", "--hnsw-threshold", EXACT, "--out", str(work / "single"), str(records)])
    rows.append(("zoek index (one process, all cores)", secs, None, work / "single"))
    for name, master, extra in [
        ("Spark local[2], 4 partitions", "local[2]", []),
        ("Spark local[2], 4 partitions, partition 2's first attempt fails", "local[2,2]",
         ["--fail-first-attempt-of-partition", "2"]),
    ]:
        out = work / name.split(",")[0].replace(" ", "-").replace("[", "").replace("]", "") 
        out = out.with_name(out.name + ("-retry" if extra else ""))
        secs, done = timed(build + ["--master", master, *extra, str(records), str(out)])
        rows.append((name, secs, json.loads(done.stdout.strip().splitlines()[-1])["seconds"], out))
    # A standalone cluster on loopback: a master and two workers of one core each.
    import pyspark

    spark_class = str(Path(pyspark.__file__).parent / "bin" / "spark-class")
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    procs = [subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", "7177", "--webui-port", "8180"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    time.sleep(8)
    for i in range(2):
        procs.append(subprocess.Popen([spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                       "--cores", "1", "--memory", "2g", "--webui-port", str(8181 + i),
                                       "spark://127.0.0.1:7177"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(8)
    try:
        out = work / "spark-standalone"
        secs, done = timed(build + ["--master", "spark://127.0.0.1:7177", str(records), str(out)], env=env)
        rows.append(("Spark standalone, master + 2 workers × 1 core, 4 partitions", secs,
                     json.loads(done.stdout.strip().splitlines()[-1])["seconds"], out))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    # Per-task overhead: a task that builds one tiny record (model load, process).
    one = work / "one.jsonl"
    one.write_text(json.dumps({"id": "x", "text": "De gemeente betaalt de buurtbus."}) + "\n")
    spec = work / "spec.json"
    spec.write_text(subprocess.run([zoek_bin, "--quiet", "segment", "spec", "--index", str(work / "single")],
                                   capture_output=True, text=True, check=True).stdout)
    task_secs, _ = timed([zoek_bin, "--quiet", "segment", "build", "--spec", str(spec), "--staging",
                          str(work / "staging"), "--run", "overhead", "--partition", "0", "--threads", "1", str(one)])
    shutil.rmtree(work / "staging", ignore_errors=True)
    rows = [(name, secs, job, str(path)) for name, secs, job, path in rows]
    (work / "builds.json").write_text(json.dumps({"rows": rows, "task_secs": task_secs}))
    report(rows, task_secs, records, questions, zoek_bin)


def report(rows, task_secs, records, questions, zoek_bin):
    import zoek

    engine = zoek.Engine()
    want = answers(Path(rows[0][3]), questions, engine)
    print(f"{len(questions)} questions, k = 10, exact search; records: {sum(1 for _ in records.open())}")
    print("| build | wall s | Spark job s | records/s | same top-10, order, scores ±1e-6 | same up to exact ties | largest score diff |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    n_records = sum(1 for _ in records.open())
    for name, secs, job, path in rows:
        path = Path(path)
        got = answers(path, questions, engine)
        strict, tied, worst = compare(got, want)
        stats = json.loads(subprocess.run([zoek_bin, "--quiet", "stats", "--json", "--index", str(path)],
                                          capture_output=True, text=True, check=True).stdout)
        print(f"| {name} ({stats['live_documents']} docs, {len(stats['segments'])} segments) | {secs:.1f} | "
              f"{'' if job is None else f'{job:.1f}'} | {n_records / secs:.1f} | {strict}/{len(questions)} | "
              f"{tied}/{len(questions)} | {worst:.1e} |")
        staging = path / "staging"
        assert not staging.exists() or not any(staging.iterdir()), f"{staging} not cleaned"
    print(f"one task of one record (process start, model load, segment write): {task_secs:.2f} s")


if __name__ == "__main__":
    main()
