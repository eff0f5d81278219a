"""zoek's errors arrive as Python exceptions of the right class, with zoek's message, and
never take the interpreter down."""

from __future__ import annotations

import pytest

import zoek


def test_the_hierarchy():
    for cls in [
        zoek.ModelNotFoundError,
        zoek.CollectionNotFoundError,
        zoek.CorruptCollectionError,
        zoek.ModelMismatchError,
        zoek.WriterLockedError,
        zoek.InvalidInputError,
    ]:
        assert issubclass(cls, zoek.ZoekError) and issubclass(cls, Exception)
        assert cls.__module__ == "zoek"


def test_missing_model_names_the_fix(tmp_path):
    with pytest.raises(zoek.ModelNotFoundError, match="zoek model fetch"):
        zoek.Engine(model_dir=tmp_path / "no-model")
    with pytest.raises(zoek.InvalidInputError):
        zoek.Engine(threads=0)


def test_missing_and_corrupt_collections(engine, example, tmp_path):
    with pytest.raises(zoek.CollectionNotFoundError):
        zoek.Collection(tmp_path / "nothing-here", engine)
    broken = tmp_path / "broken"
    source = tmp_path / "in.txt"
    source.write_text("Een zin over zorg in het dorp.\n")
    zoek.build(source, broken, engine=engine)
    (broken / "manifest.json").write_bytes(b"{ not json")
    with pytest.raises(zoek.CorruptCollectionError, match="manifest.json"):
        zoek.Collection(broken, engine)


def test_bad_arguments(engine, example, tmp_path):
    c = zoek.Collection(example, engine)
    with pytest.raises(zoek.InvalidInputError, match="empty"):
        c.ask("   ")
    with pytest.raises(zoek.InvalidInputError):
        c.ask("samenwerking", k=0)
    with pytest.raises(zoek.InvalidInputError, match="mode"):
        c.ask("samenwerking", mode="fastest")
    with pytest.raises(TypeError):
        c.ask("samenwerking", filters={"year": [2024]})
    for option in ["centering", "doc_prior"]:
        with pytest.raises(zoek.InvalidInputError, match=option):
            c.ask("samenwerking", **{option: 1.5})
    with pytest.raises(TypeError, match="unknown option"):
        zoek.build([example], tmp_path / "x", engine=engine, chunk_size=100)
    with pytest.raises(zoek.InvalidInputError, match="sentence_vectors"):
        zoek.build([example], tmp_path / "x", engine=engine, sentence_vectors="sometimes")
    with pytest.raises(zoek.InvalidInputError, match="not found"):
        zoek.build([tmp_path / "missing"], tmp_path / "x", engine=engine)
    with pytest.raises(TypeError):
        engine.embed_queries("a str, not a list")
    with zoek.Writer(tmp_path / "w", engine) as w:
        with pytest.raises(zoek.InvalidInputError, match="id"):
            w.add_records([{"text": "no id"}])
        with pytest.raises(zoek.InvalidInputError, match="text"):
            w.add_records([{"id": "x"}])
        with pytest.raises(TypeError):
            w.add_records([42])
        assert not w.pending
        w.add_records([{"id": "x", "text": "Een zin."}])
        w.commit()
        with pytest.raises(zoek.InvalidInputError, match="no document"):
            w.delete(["y"])


def test_locked_writer(engine, tmp_path):
    first = zoek.Writer(tmp_path / "c", engine)
    with pytest.raises(zoek.WriterLockedError, match="another writer"):
        zoek.Writer(tmp_path / "c", engine)
    first.close()
    zoek.Writer(tmp_path / "c", engine).close()


def test_model_mismatch(root, engine, tmp_path):
    minilm = root / "models" / "all-MiniLM-L6-v2"
    if not (minilm / ".complete").exists():
        pytest.skip("SKIPPED: models/fetch did not install all-MiniLM-L6-v2")
    other = zoek.Engine(model_dir=minilm)
    with zoek.Writer(tmp_path / "c", other) as w:
        w.add_records([{"id": "a", "text": "A sentence about care."}])
    with pytest.raises(zoek.ModelMismatchError, match="model mismatch"):
        zoek.Collection(tmp_path / "c", engine).ask("care")
    with pytest.raises(zoek.ModelMismatchError):
        zoek.Writer(tmp_path / "c", engine)
    assert zoek.Collection(tmp_path / "c", other).ask("care", k=1)[0].doc == "a"


def test_quantize_q8(root, engine):
    minilm = root / "models" / "all-MiniLM-L6-v2"
    if not (minilm / ".complete").exists():
        pytest.skip("SKIPPED: models/fetch did not install all-MiniLM-L6-v2")
    f32 = zoek.Engine(model_dir=minilm)
    q8 = zoek.Engine(model_dir=minilm, quantize="q8")
    assert "safetensors-q8_0" in q8.model_id and q8.model_id != f32.model_id
    texts = ["The weather is lovely today.", "He drove to the stadium."]
    a, b = q8.embed_passages(texts), f32.embed_passages(texts)
    assert (a * b).sum(axis=1).min() >= 0.999
    with pytest.raises(zoek.InvalidInputError, match="unknown quantisation"):
        zoek.Engine(model_dir=minilm, quantize="q3")
    with pytest.raises(zoek.ZoekError, match="4-bit already"):
        zoek.Engine(quantize="q8")
