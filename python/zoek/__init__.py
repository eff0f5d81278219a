"""zoek: multilingual semantic search on the CPU.

Documents go in, an index on disk comes out, and questions in any language the model
knows are answered with the passages that answer them, the answering sentence
highlighted. The engine is zoek's Rust library, in-process: no PyTorch, no ONNX Runtime.

>>> import zoek
>>> zoek.build(["docs/"], "my-index")                     # doctest: +SKIP
>>> for hit in zoek.Collection("my-index").ask("what hinders cooperation?"):  # doctest: +SKIP
...     print(hit.score, hit.doc, hit.highlight)

The default model is multilingual-e5-small: ``zoek.fetch_model()`` (or the CLI's ``zoek
model fetch``) installs it into the user's cache; see ``default_model_dir()``.
"""

from ._zoek import (
    Collection,
    CollectionNotFoundError,
    CorruptCollectionError,
    Engine,
    Hit,
    InvalidInputError,
    ModelMismatchError,
    ModelNotFoundError,
    Writer,
    WriterLockedError,
    ZoekError,
    __version__,
    build,
    default_model_dir,
)
from ._models import fetch_model, list_models

__all__ = [
    "Collection",
    "CollectionNotFoundError",
    "CorruptCollectionError",
    "Engine",
    "Hit",
    "InvalidInputError",
    "ModelMismatchError",
    "ModelNotFoundError",
    "Writer",
    "WriterLockedError",
    "ZoekError",
    "__version__",
    "build",
    "default_model_dir",
    "fetch_model",
    "list_models",
]
