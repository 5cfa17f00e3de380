"""The book's committed results and cited values, wherever actbook runs.

A chapter reads ``committed("earlier", "overfit")`` instead of
``../data/earlier/overfit``, so the same notebook runs inside a clone of the
repository, from the book's download button, on Colab or Binder. Where the
folder is, in order:

1. ``ACTBOOK_DATA``, a folder laid out like the repository's ``data/``
   (results of your own, for instance);
2. the repository's ``data/`` when actbook is imported from a clone (an
   editable install);
3. the copy inside an installed wheel (``actbook/_data``, see ``setup.py``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["data_dir", "committed", "ENV_VAR"]

ENV_VAR = "ACTBOOK_DATA"
#: A file every copy of the data folder has (the comparison's design), so a stray ``data/`` is not taken for it.
MARKER = Path("results") / "PROTOCOL.md"


def data_dir() -> Path:
    """The folder that holds ``results/``, ``earlier/``, ``literature/`` and the rest."""
    if os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR]).expanduser().resolve()
        if not path.is_dir():
            raise FileNotFoundError(f"{ENV_VAR}={os.environ[ENV_VAR]} is not a folder")
        return path
    clone = Path(__file__).resolve().parents[2] / "data"
    if (clone / MARKER).is_file():
        return clone
    packaged = Path(str(resources.files("actbook") / "_data"))
    if (packaged / MARKER).is_file():
        return packaged
    raise FileNotFoundError("the book's committed results are not installed with actbook: install it from the "
                            "repository (pip install git+<repository url>) or set ACTBOOK_DATA to a copy of data/")


def committed(*parts: str) -> Path:
    """A path under the committed data folder: ``committed("literature", "xu2015_cifar10_nin.csv")``."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} is not among the committed results")
    return path
