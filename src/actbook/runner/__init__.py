"""The CIFAR-10 comparison's runner: one module per concern.

- ``profiles`` (and ``profiles.json``): the experiments as data, validated; the cell plan.
- ``data``: CIFAR-10 loading, integrity and caching; ``stream``: the training
  stream as a function of (seed, epoch, batch).
- ``architectures``: the networks, each defined once, as data; ``models``: them as Keras models.
- ``backend``: the Keras backend, its threads, determinism and devices;
  ``precision``: the kernel policy where oneDNN runs.
- ``train``: one cell, top to bottom, with ``schedules`` (learning rates),
  ``checkpoints``, ``progress``, ``predictions`` (per-image, and the
  calibrated loss with ``calibration``) and ``provenance`` (where a result came from).
- ``experiment``: plan, run, check and select from the command line (``actbook``).
- ``files``: atomic writes and cell locks; ``errors``: the error for bad
  input; ``result_format``: the result-file format the runner writes.
"""
