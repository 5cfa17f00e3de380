"""actbook: the shared code of the book on activation functions.

Modules, one concern each:

- ``activations``: NumPy reference implementations and their derivatives
- ``layers``: Keras 3 layers (RReLU, channel-wise PReLU) and the arm factory
- ``compare``: NumPy-vs-Keras agreement tables for the chapters
- ``plotting``: the figures shared by the chapters
"""

__version__ = "0.2.0.dev0"
