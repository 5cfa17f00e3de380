"""actbook: the shared code of the book on activation functions.

Imports run one way: the core, then the runner, then the analysis, then the
chapters; no module imports one that imports it back (``tests/test_imports.py``).

- The core: ``activations`` (NumPy references and their derivatives),
  ``arms`` (the table of activation settings) and ``layers`` (Keras 3
  layers, any backend, and the arm factory).
- For the chapters: ``properties``, ``compare`` and ``gradients`` (NumPy
  against Keras), ``dead_units``, ``mean_field`` (the typical-case
  recursion through depth), ``vanishing`` (the vanishing-gradient
  experiment's settings and data), ``selu_constants``, ``finite_differences``,
  ``prose`` (numbers and lists for sentences), ``plotting`` and ``tables``;
  ``data_folder`` finds the committed results.
- Infrastructure: ``tf_runtime`` (TensorFlow imported without its start-up
  chatter) and ``kernel_policy`` (oneDNN's kernels pinned before it loads).
- ``runner``: the CIFAR-10 comparison, run with the ``actbook`` command
  (``python -m actbook``); ``analysis``: its results read into tables,
  statistics and claims.
"""

__version__ = "0.2.0.dev0"
