"""The CIFAR-10 comparison's runner: one module per concern.

- ``profiles`` (and ``profiles.json``): the experiments as data, validated; the cell plan.
- ``data``: CIFAR-10 loading, integrity and caching; ``stream``: the training
  stream as a function of (seed, epoch, batch).
- ``architectures``: the networks as data; ``models``: them as Keras models.
- ``backend``: the Keras backend, its threads, determinism and devices;
  ``precision``: the kernel policy where oneDNN runs.
- ``train``: one cell, top to bottom; ``experiment``: plan, run and check
  from the command line (``actbook``).
- ``files``: atomic writes and cell locks; ``provenance``: where a result came from.
"""
