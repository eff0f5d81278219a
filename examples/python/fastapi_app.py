"""A search endpoint over a zoek collection, in-process (no CLI, no second service).

    pip install ./python fastapi uvicorn
    ZOEK_INDEX=my-index uvicorn examples.python.fastapi_app:app --host 127.0.0.1
    curl '127.0.0.1:8000/search?q=what+hinders+cooperation%3F&k=3'
"""

import os

from fastapi import FastAPI, HTTPException, Query

import zoek

app = FastAPI(title="zoek search")
engine = zoek.Engine()  # loaded once, shared by every request
collection = zoek.Collection(os.environ.get("ZOEK_INDEX", "my-index"), engine)


@app.get("/search")
def search(q: str, k: int = Query(3, ge=1, le=50), mode: str = "hybrid"):
    # A plain `def`: FastAPI runs it on its thread pool, and zoek releases the GIL, so
    # questions are answered in parallel.
    try:
        hits = collection.ask(q, k=k, mode=mode)
    except zoek.InvalidInputError as e:
        raise HTTPException(status_code=400, detail=str(e)) from e
    return {"question": q, "hits": [h.to_dict() for h in hits]}


@app.post("/refresh")
def refresh():
    return {"changed": collection.refresh(), "generation": collection.generation}
