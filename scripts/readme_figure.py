#!/usr/bin/env python3
"""The README's picture, docs/overview.png: the book's activations and their
derivatives, drawn by the same plotting code as the chapters.

    python scripts/readme_figure.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from actbook import activations as A  # noqa: E402
from actbook import plotting  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "overview.png"
CURVES = [("sigmoid", A.sigmoid, A.sigmoid_grad), ("ReLU", A.relu, A.relu_grad),
          ("Leaky ReLU (slope 1/5.5)", lambda x: A.leaky_relu(x, 1 / 5.5), lambda x: A.leaky_relu_grad(x, 1 / 5.5)),
          ("ELU", A.elu, A.elu_grad), ("tanh", A.tanh, A.tanh_grad),
          ("GELU", A.gelu, A.gelu_grad)]


def main() -> None:
    fig = plotting.function_and_derivative(CURVES, title="Some of the book's activations and their derivatives")
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=90, bbox_inches="tight", metadata={"Software": None})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
