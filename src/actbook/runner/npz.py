"""An ``.npz`` archive's headers, read before any array is.

``np.load`` of an ``.npz`` allocates what each member's own header asks for
(shape times item size) and unpacks with whatever method the zip member names.
A small file can thus ask for gigabytes (a deflated member of zeros whose
header promises a million images), reach a decompressor whose errors say
nothing of the file (LZMA, bzip2), or ask for a password. The runner's own
archives (the predictions files, the decoded CIFAR-10 cache) have names,
shapes and dtypes known in advance: :func:`npz_problem` compares the headers
with them first.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from actbook.runner.errors import printable

#: How the runner's archives may be packed: ``np.savez_compressed`` writes deflated
#: members, ``np.savez`` stored ones. Any other method, or an encrypted member, is not a
#: file the runner wrote.
ZIP_METHODS = {0: "stored", 8: "deflated"}
#: The general-purpose flag bits of a zip member that mean encryption (traditional, strong).
ZIP_ENCRYPTED = 0x1 | 0x40


def array_header(z: zipfile.ZipFile, name: str) -> tuple[tuple, np.dtype]:
    """The shape and dtype that member ``name`` (a ``.npy``) of ``z`` declares, from its header alone."""
    with z.open(name) as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    return shape, dtype


def npz_problem(data: bytes, expected: dict, max_unpacked: int, what: str) -> str | None:
    """What makes the ``.npz`` archive ``data`` unfit to load, from its headers: members
    other than ``expected``'s (``{array name: (shape, dtype)}``), one packed otherwise than
    :data:`ZIP_METHODS` or encrypted, more than ``max_unpacked`` bytes in all, or an array
    whose header declares another shape or dtype. None when ``np.load`` may read it.
    ``what`` names the archive in the message ("a predictions file")."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = z.infolist()
        names = sorted(m.filename for m in members)
        wanted = [f"{k}.npy" for k in expected]
        if names != sorted(wanted):  # an extra array, or one name twice: which is read?
            return f"holds the arrays {names[:5]}, not exactly {' and '.join(wanted)}"
        for m in members:
            if m.flag_bits & ZIP_ENCRYPTED:
                return f"{printable(m.filename)} is encrypted, which the runner never writes"
            if m.compress_type not in ZIP_METHODS:
                return (f"{printable(m.filename)} is packed with zip method {m.compress_type}; the runner writes "
                        f"{' or '.join(ZIP_METHODS.values())} members only")
        unpacked = sum(m.file_size for m in members)
        if unpacked > max_unpacked:
            return f"unpacks to {unpacked:,} bytes, more than the {max_unpacked:,} {what} may hold"
        for key, (shape, dtype) in expected.items():
            found_shape, found_dtype = array_header(z, f"{key}.npy")
            if found_shape != shape:
                return f"{key} is an array of shape {found_shape}, expected {shape}"
            if found_dtype != np.dtype(dtype):
                return f"{key} must be {dtype} as the runner writes it, found {str(found_dtype)[:40]}"
    return None
