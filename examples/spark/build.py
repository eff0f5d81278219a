"""Build a zoek collection from JSON lines with Apache Spark.

    examples/spark/build.py --master local[2] --partitions 4 INPUT.jsonl OUT_DIR

Run it with the Python that ``examples/spark/setup`` prints. Records are JSON objects with
``id`` and ``text`` (other fields become metadata). Rows are partitioned by a hash of the
id, each partition is built into a segment by a Spark task (``zoek segment build``), and
the driver attaches them all in one commit. ``zoek`` is taken from ``--zoek``, ``$ZOEK_BIN``,
the PATH, or this checkout's ``target/release``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def find_zoek(given: str | None) -> str:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for candidate in (given, os.environ.get("ZOEK_BIN"), shutil.which("zoek"), target / "release" / "zoek"):
        if candidate and Path(candidate).is_file():
            return str(Path(candidate).resolve())
    sys.exit("build.py: no zoek binary (cargo build --release, or --zoek PATH)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="JSON-lines file of {id, text, ...} records")
    p.add_argument("out", help="collection directory (created, or appended to)")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--zoek", help="the zoek binary")
    p.add_argument("--upsert", action="store_true", help="replace documents the collection has")
    p.add_argument("--hnsw-threshold", help="for a new collection: HNSW from this many sentences")
    p.add_argument("--fail-first-attempt-of-partition", type=int,
                   help="test: fail that partition's first attempt after it wrote its segment")
    args = p.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Tasks run in this Python too (the venv that has the zoek package).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

    from pyspark.sql import SparkSession
    from zoek.spark import ZoekDataSource

    zoek = find_zoek(args.zoek)
    spark = (
        SparkSession.builder.master(args.master)
        .appName("zoek-build")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.task.maxFailures", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    spark.dataSource.register(ZoekDataSource)
    started = time.monotonic()
    df = spark.read.json(args.input)
    writer = df.repartition(args.partitions, "id").write.format("zoek").mode("append").option("zoek", zoek)
    if args.upsert:
        writer = writer.option("upsert", "true")
    if args.hnsw_threshold:
        writer = writer.option("hnsw_threshold", args.hnsw_threshold)
    if args.fail_first_attempt_of_partition is not None:
        writer = writer.option("fail_first_attempt_of_partition", str(args.fail_first_attempt_of_partition))
    writer.save(str(Path(args.out).resolve()))
    seconds = time.monotonic() - started
    spark.stop()
    print(json.dumps({"out": str(args.out), "partitions": args.partitions,
                      "master": args.master, "seconds": round(seconds, 2)}))


if __name__ == "__main__":
    main()
