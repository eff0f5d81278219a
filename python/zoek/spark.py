"""Build a zoek collection with Apache Spark: ``df.write.format("zoek")``.

Every Spark task builds its partition's rows into a complete segment with the ``zoek``
binary (``zoek segment build``), under a name unique to the task attempt, and returns
the segment's receipt. The driver's ``commit`` attaches all receipts in one zoek commit
(``zoek segment attach``): one segment per partition, in partition order, every file
re-checked. ``abort`` removes the run's staging. Spark schedules, retries and places the
tasks; zoek is not a cluster of its own.

    >>> from zoek.spark import ZoekDataSource                      # doctest: +SKIP
    >>> spark.dataSource.register(ZoekDataSource)                  # doctest: +SKIP
    >>> (df.repartition(8, "id")                                   # doctest: +SKIP
    ...    .write.format("zoek").mode("append").save("/shared/my-index"))

Rows need a string ``id`` and a ``text``; other columns become metadata (filters, hits).
Partition by a hash of the id (``repartition(n, "id")``), never round-robin: a retried
round-robin task can see other rows. Options:

- ``zoek``: the binary (default ``$ZOEK_BIN``, else ``zoek`` on the PATH), resolved on
  the driver; every worker must have it at that path, and the model.
- ``model``: model directory (default: the binary's default model).
- ``upsert``: ``"true"`` replaces documents the collection has (default: refused).
- ``run``: the run id (default: a fresh one per write); attaching a run twice is a no-op.
- ``staging``: where tasks stage segments (default ``<path>/staging``), on a filesystem
  that every worker and the driver share with the collection.
- ``threads``: embedding threads per task (default: the task's ``spark.task.cpus``).
- ``hnsw_threshold``: for a new collection, the sentence count from which it is searched
  through HNSW graphs.

Tasks run the ``zoek`` binary rather than the Python bindings: a task is then a process
with its own thread count and memory that cannot take its Python worker down, and workers
need the binary and the model, not a wheel built for their Python.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from typing import Iterator, List, Optional

from pyspark.sql.datasource import DataSource, DataSourceWriter, WriterCommitMessage

__all__ = ["ZoekDataSource", "ZoekCommitMessage"]

log = logging.getLogger("zoek.spark")

# Test hook: fail the first attempt of this partition after its segment is written.
_FAIL_FIRST_ATTEMPT = "fail_first_attempt_of_partition"


def _binary(options: dict) -> str:
    path = options.get("zoek") or os.environ.get("ZOEK_BIN") or shutil.which("zoek")
    if not path:
        raise RuntimeError(
            "no zoek binary: set the option \"zoek\", $ZOEK_BIN, or put zoek on the PATH"
        )
    return os.path.abspath(path)


def _run(args: List[str], stdin: Optional[str] = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:4])} … failed ({done.returncode}): {done.stderr.strip()}"
        )
    return done.stdout


@dataclass
class ZoekCommitMessage(WriterCommitMessage):
    """What a task returns: the receipt of its staged segment (one JSON line)."""

    receipt: str


class ZoekDataSource(DataSource):
    """The ``zoek`` format for ``DataFrameWriter``."""

    @classmethod
    def name(cls) -> str:
        return "zoek"

    def writer(self, schema, overwrite: bool) -> "ZoekWriter":
        return ZoekWriter(dict(self.options), schema, overwrite)


class ZoekWriter(DataSourceWriter):
    """Created on the driver (which fixes the spec and the run), pickled to the tasks."""

    def __init__(self, options: dict, schema, overwrite: bool):
        if overwrite:
            raise ValueError(
                "zoek collections are not overwritten: use mode(\"append\"), with "
                "option(\"upsert\", \"true\") to replace documents, or write to a new path"
            )
        names = set(schema.fieldNames())
        if not {"id", "text"} <= names:
            raise ValueError(f"rows need \"id\" and \"text\" columns, not {sorted(names)}")
        path = options.get("path")
        if not path:
            raise ValueError("save(path) needs the collection directory")
        self.path = os.path.abspath(path)
        self.zoek = _binary(options)
        self.model = options.get("model")
        self.run = options.get("run") or "spark-" + uuid.uuid4().hex[:16]
        self.staging = os.path.abspath(options.get("staging") or os.path.join(self.path, "staging"))
        self.upsert = options.get("upsert", "false").lower() == "true"
        self.threads = options.get("threads")
        self.fail_partition = options.get(_FAIL_FIRST_ATTEMPT)
        spec_args = [self.zoek, "--quiet", *self._model(), "segment", "spec", "--index", self.path]
        if options.get("hnsw_threshold"):
            spec_args += ["--hnsw-threshold", options["hnsw_threshold"]]
        self.spec = _run(spec_args).strip()

    def _model(self) -> List[str]:
        return ["--model", self.model] if self.model else []

    def write(self, iterator: Iterator) -> ZoekCommitMessage:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        partition, attempt = ctx.partitionId(), ctx.attemptNumber()
        threads = self.threads or str(max(1, int(ctx.cpus() or 1)))
        with tempfile.TemporaryDirectory(prefix="zoek-task-") as tmp:
            records = os.path.join(tmp, "records.jsonl")
            with open(records, "w", encoding="utf-8") as out:
                for row in iterator:
                    record = {k: v for k, v in row.asDict(recursive=True).items() if v is not None}
                    out.write(json.dumps(record, ensure_ascii=False, default=str))
                    out.write("\n")
            spec = os.path.join(tmp, "spec.json")
            with open(spec, "w", encoding="utf-8") as f:
                f.write(self.spec)
            receipt = _run([
                self.zoek, "--quiet", *self._model(), "segment", "build",
                "--spec", spec, "--staging", self.staging, "--run", self.run,
                "--partition", str(partition), "--attempt", str(attempt),
                "--threads", threads, records,
            ]).strip()
        if self.fail_partition is not None and int(self.fail_partition) == partition and attempt == 0:
            raise RuntimeError(f"injected failure: partition {partition}, attempt 0, segment written")
        return ZoekCommitMessage(receipt=receipt)

    def commit(self, messages: List[Optional[ZoekCommitMessage]]) -> None:
        receipts = "\n".join(m.receipt for m in messages if m is not None) + "\n"
        attached = json.loads(_run(
            [self.zoek, "--quiet", *self._model(), "segment", "attach", "--index", self.path,
             "--run", self.run, *(["--upsert"] if self.upsert else [])],
            stdin=receipts,
        ))
        log.info("attached run %s: %s", self.run, attached)

    def abort(self, messages: List[Optional[ZoekCommitMessage]]) -> None:
        shutil.rmtree(os.path.join(self.staging, self.run), ignore_errors=True)
