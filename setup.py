"""Packaging hook: the committed results travel inside the wheel.

The book's results live in ``data/`` at the top of the repository (where
the runner writes them and reviewers read them). A wheel built from the
repository, e.g. by ``pip install git+<repository>``, carries a copy under
``actbook/_data`` so that a chapter notebook run anywhere finds them through
``actbook.data_folder``. Everything else is in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

#: The folders of data/ a chapter reads (never data sets: there are none in data/).
SHIPPED = ("results", "earlier", "literature", "benchmarks", "reproducibility")


class BuildWithData(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent / "data"
        target = Path(self.build_lib) / "actbook" / "_data"
        for name in SHIPPED:
            if (root / name).is_dir():
                shutil.copytree(root / name, target / name, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns(".*", "*.lock", "*.tmp"))
        if (root / "README.md").exists():
            shutil.copy2(root / "README.md", target / "README.md")


setup(cmdclass={"build_py": BuildWithData})
