"""Writing from Python: records with metadata, updates, deletes, the context manager's
commit-or-drop, files, compaction."""

from __future__ import annotations

import pytest

import zoek

RECORDS = [
    {"id": "fiets", "text": "De gemeente vergoedt een elektrische fiets voor mantelzorgers.", "year": 2024, "topic": "vervoer"},
    {"id": 7, "text": "Vrijwilligers koken twee keer per week in het dorpshuis.", "year": 2023, "topic": "eten"},
    {"id": "bus", "text": "De buurtbus rijdt op dinsdag en vrijdag naar het ziekenhuis.", "year": 2024, "topic": "vervoer"},
]


def test_records_metadata_filters_updates_deletes(engine, tmp_path):
    path = tmp_path / "c"
    with zoek.Writer(path, engine) as w:
        stats = w.add_records(iter(RECORDS))
        assert (stats["added"], stats["documents"]) == (3, 3)
        assert w.pending
    c = zoek.Collection(path, engine)
    assert c.generation == 1
    top = c.ask("who pays for an e-bike?", k=1)[0]
    assert top.doc == "fiets"
    assert top.metadata == {"year": 2024, "topic": "vervoer"}
    only_2023 = c.ask("vervoer naar het ziekenhuis", k=3, filters={"year": 2023})
    assert [h.doc for h in only_2023] == ["7"]
    assert {h.doc for h in c.ask("vervoer", k=3, filters={"topic": "vervoer"})} == {"fiets", "bus"}

    with zoek.Writer(path, engine) as w:
        assert w.delete(["fiets"]) == 1
        stats = w.add_records([{"id": 7, "text": "Vrijwilligers koken nu elke dag.", "year": 2025}])
        assert (stats["updated"], stats["added"]) == (1, 0)
        # The same record again is unchanged, not a second version.
        assert w.add_records([{"id": 7, "text": "Vrijwilligers koken nu elke dag.", "year": 2025}])["unchanged"] == 1
    assert c.refresh()
    assert {d["id"] for d in c.documents()} == {"7", "bus"}
    assert c.ask("wie kookt?", k=1)[0].metadata == {"year": 2025}
    assert all(h.doc != "fiets" for h in c.ask("elektrische fiets", k=2))


def test_with_block_drops_changes_on_an_exception(engine, tmp_path):
    path = tmp_path / "c"
    with zoek.Writer(path, engine) as w:
        w.add_records(RECORDS[:1])
    c = zoek.Collection(path, engine)
    with pytest.raises(RuntimeError):
        with zoek.Writer(path, engine) as w:
            w.add_records(RECORDS[1:])
            raise RuntimeError("the caller's own failure")
    assert not c.refresh() and len(zoek.Collection(path, engine).documents()) == 1
    # The lock was released: a new writer opens, and sees the staged files collected.
    with zoek.Writer(path, engine) as w:
        assert not w.pending
    with pytest.raises(zoek.ZoekError, match="closed"):
        w.commit()


def test_files_merge_compact(root, engine, tmp_path):
    path = tmp_path / "c"
    w = zoek.Writer(path, engine, max_tokens=128)
    stats = w.add(root / "corpus" / "zonder-gedeelde-visie.txt")
    assert stats["added"] == 1 and stats["segment"]
    w.commit()
    w.add([root / "corpus" / "status-quo-samenwerking.txt"])
    w.add_records(RECORDS)
    assert w.commit() == 2
    assert w.delete(["bus"]) == 1
    w.commit()
    merged = w.compact()
    assert merged is not None and merged["reclaimed_passages"] >= 1
    w.close()
    c = zoek.Collection(path, engine)
    assert len(c.stats()["segments"]) == 1 and c.stats()["tombstones"] == 0
    assert len(c.documents()) == 4
    c.verify()
