"""The package answers like the CLI and embeds like it: the same hits for the same
question over the same corpus, the same vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zoek
from conftest import run_cli

QUESTION = "what hinders cooperation?"


def hits_of(collection: zoek.Collection, question: str, k: int = 3):
    return [
        (h.doc, h.heading, h.text, h.highlight, h.byte_range) for h in collection.ask(question, k=k)
    ]


def test_example_answers_like_the_cli(root, zoek_bin, engine, example, tmp_path):
    cli_index = tmp_path / "cli-index"
    run_cli(zoek_bin, "index", "--out", str(cli_index), str(root / "corpus"))
    cli = json.loads(run_cli(zoek_bin, "ask", "--index", str(cli_index), "--json", "-k", "3", QUESTION))
    expected = [
        (h["doc"], h["heading"], h["text"], h["highlight"], tuple(h["byte_range"])) for h in cli["hits"]
    ]
    assert len(expected) == 3
    # The CLI's collection asked from Python, and Python's own build of the same corpus.
    from_cli_index = zoek.Collection(cli_index, engine=engine)
    assert hits_of(from_cli_index, QUESTION) == expected
    own = zoek.Collection(example, engine=engine)
    assert hits_of(own, QUESTION) == expected
    scores = [h.score for h in own.ask(QUESTION, k=3)]
    assert scores == pytest.approx([h["score"] for h in cli["hits"]], abs=1e-5)
    assert all(h.highlight and h.highlight in h.text for h in own.ask(QUESTION, k=3))


def test_every_mode_and_the_hit_type(engine, example):
    c = zoek.Collection(example, engine=engine)
    for mode in ["hybrid", "rrf", "sentence-to-parent", "dense"]:
        hits = c.ask("wie nam het initiatief?", k=2, mode=mode)
        assert [h.rank for h in hits] == [1, 2]
        assert hits[0].score >= hits[1].score
    # The ranking options of the Rust API, with their defaults (centring and the document
    # prior off, questions demoted): asked with those values, as the default.
    plain = [(h.doc, h.passage, h.score) for h in c.ask("wat belemmert de samenwerking?", k=5)]
    assert [(h.doc, h.passage, h.score) for h in c.ask("wat belemmert de samenwerking?", k=5, centering=0.0, doc_prior=0.0, demote_questions=True)] == plain
    for options in [dict(centering=0.3, doc_prior=0.5), dict(demote_questions=False)]:
        shifted = [h.score for h in c.ask("wat belemmert de samenwerking?", k=5, **options)]
        assert shifted != [s for _, _, s in plain], options
    hit = c.ask("wie nam het initiatief?", k=1)[0]
    d = hit.to_dict()
    assert d["doc"] == hit.doc and d["text"] == hit.text and d["metadata"] == {} and d["page"] is None and hit.page is None
    assert "Hit(rank=1" in repr(hit)
    assert len(c) == c.stats()["live_passages"] > 0
    assert {d["id"] for d in c.documents()} == {"status-quo-samenwerking.txt", "zonder-gedeelde-visie.txt"}
    c.verify()
    assert c.model_id == engine.model_id


def test_vectors_equal_the_cli(zoek_bin, engine):
    texts = ["what hinders cooperation?", "Wantrouwen vanuit het dorp belemmerde de samenwerking.", "ja"]
    for flag, ours in [([], engine.embed_queries(texts)), (["--passage"], engine.embed_passages(texts))]:
        cli = json.loads(run_cli(zoek_bin, "embed", "--json", *flag, *texts))
        theirs = np.asarray(cli["vectors"], dtype=np.float32)
        assert ours.dtype == np.float32 and ours.shape == theirs.shape == (3, engine.dim)
        cosines = (ours * theirs).sum(axis=1) / (
            np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
        )
        assert cosines.min() >= 0.99999, cosines
    assert cli["model"] == engine.model_id
    assert engine.embed_queries([]).shape == (0, engine.dim)
