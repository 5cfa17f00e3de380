"""CIFAR-10 for the book: loading, integrity, caching, subsets.

Where the images come from, in order:

1. ``source`` if given, else the path in the environment variable
   ``ACTBOOK_CIFAR10``: an image folder ``train|test/<class>/*.jpg|png``, a
   ``.tar``/``.tar.gz`` of one (e.g. the offline JPEG copy), or the official
   ``cifar-10-python.tar.gz``;
2. otherwise Keras's ``keras.datasets.cifar10`` download (needs internet).

Known archives are checked against their published sha256 before use, and a
pickled archive is never opened unless it is byte-for-byte the official
release. A source is read into memory once, and hashed and decoded from
those same bytes. Decoded images are cached as ``.npz`` keyed by the
source's checksum, so the second load takes a fraction of a second. The
cache is used only when it matches the source it came from: for an archive
whose decoding is known (:data:`KNOWN_DECODED`), its arrays must have the
committed checksum; for any other source, every label must be the source's
and a random sample of images, drawn afresh each time, must decode to the
cached pixels. Anything else is decoded again. (The pickled release is
never cached: unpickling it is as quick as reading a cache.) A source must
hold exactly the official counts (10 classes, 5,000 training and 1,000 test
images each), or it is refused with a message naming what is missing or extra.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import tarfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

# The runner's modules and tests call these as this module's: they stay its names.
from actbook.image_subsets import channel_stats, normalize, subset, subset_indices

__all__ = ["CLASSES", "KNOWN_ARCHIVES", "KNOWN_DECODED", "DataError", "DecodingWarning", "Cifar", "Prepared",
           "load_cifar10", "prepare", "hold_out", "sha256_file", "channel_stats", "normalize", "subset", "subset_indices",
           "subset_key", "SUBSET_STREAM", "check_counts"]

ENV_VAR = "ACTBOOK_CIFAR10"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

#: sha256 of the archives this module knows, with how to describe them.
KNOWN_ARCHIVES = {
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce":
        "CIFAR-10, official python release (cifar-10-python.tar.gz)",
    "4bbb247519ec113024735c0bd3116aacc044fbd2a8fe2c96a0428fca47bc12ec":
        "CIFAR-10, JPEG q75 copy (cifar10-jpeg.tar.gz)",
}
OFFICIAL_PYTHON_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
#: sha256 of the decoded arrays (:func:`arrays_digest`) of the archives whose decoding was
#: checked: the JPEG copy decoded twice, identically, with the pinned Pillow 13.0.0
#: (requirements.txt), to the arrays every committed cell trained on. A cache of such an
#: archive must hold exactly these arrays, whatever checksum it records of itself.
KNOWN_DECODED = {
    "4bbb247519ec113024735c0bd3116aacc044fbd2a8fe2c96a0428fca47bc12ec":
        "116a00ba928015e7a31d258495677736d0e5e7d8f993c709dafa1f81b8b8333f",
}
#: Images of an unrecognised source decoded again, at random, each time its cache is read.
SPOT_CHECK_IMAGES = 64
KNOWN_NAMES = {"cifar-10-python.tar.gz": OFFICIAL_PYTHON_SHA256,
               "cifar10-jpeg.tar.gz": "4bbb247519ec113024735c0bd3116aacc044fbd2a8fe2c96a0428fca47bc12ec"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: The image formats decoded (Pillow's names), whatever a file's suffix says.
DECODED_FORMATS = ("PNG", "JPEG")
#: Pillow modes holding 8 bits per channel, which convert to RGB without loss of range.
EIGHT_BIT_MODES = ("RGB", "L", "P")
#: The official CIFAR-10 split: images per class.
PER_CLASS = {"train": 5000, "test": 1000}


class DataError(RuntimeError):
    """The data set could not be found, verified or decoded; the message says why."""


class DecodingWarning(UserWarning):
    """A known archive decoded here to other pixels than the pinned Pillow's."""


@dataclass
class Split:
    """Training and test images with their labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class Cifar(Split):
    """Images as uint8 ``(N, 32, 32, 3)``, labels as int64 ``(N,)``."""

    classes: tuple
    source: str          # path or "keras.datasets.cifar10"
    sha256: str          # of the archive or image folder the arrays came from
    description: str     # e.g. "CIFAR-10, JPEG q75 copy (cifar10-jpeg.tar.gz)"

    def provenance(self) -> dict:
        """Name and checksum of the data, never a path of the machine that read it."""
        return {"dataset": self.description, "source": Path(self.source).name, "sha256": self.sha256,
                "train_images": int(len(self.y_train)), "test_images": int(len(self.y_test))}


@dataclass
class Prepared(Split):
    """A profile's subsets (float32), normalised with the training subset's channel statistics."""

    dataset: dict        # Cifar.provenance() of the source
    x_val: np.ndarray | None = None  # the held-out validation images (None when the profile has none)
    y_val: np.ndarray | None = None
    #: Which training images these are: the draw's key and the sha256 of their
    #: indices in the pool left after the validation hold-out.
    train_subset: dict | None = None


#: Mixed into the data seed for the validation draw, so it is not the training subset's draw.
VALIDATION_STREAM = 0x5A11D
#: Mixed into the data seed, with the cell's seed, for a training subset drawn per seed.
SUBSET_STREAM = 0x5EED5


def hold_out(x: np.ndarray, y: np.ndarray, n: int | None, seed: int = 0):
    """``(x_rest, y_rest, x_held, y_held)``: a class-balanced random ``n`` of
    the examples held out (none when ``n`` is None or 0), and the rest, both in
    their original order."""
    if not n:
        return x, y, x[:0], y[:0]
    classes = np.unique(y)
    if n % len(classes) or n >= len(y):
        raise ValueError(f"a held-out set of {n} must be a multiple of the {len(classes)} classes and smaller "
                         f"than the {len(y)} examples")
    rng = np.random.default_rng([seed, VALIDATION_STREAM])
    held = np.concatenate([rng.choice(np.flatnonzero(y == c), n // len(classes), replace=False) for c in classes])
    mask = np.zeros(len(y), bool)
    mask[held] = True
    return x[~mask], y[~mask], x[mask], y[mask]


def subset_key(config: dict, seed: int | None = None) -> list[int]:
    """The key of the training subset's draw: the profile's ``data_seed``, or,
    when the profile draws a subset per seed, ``[data_seed, SUBSET_STREAM, seed]``."""
    if not config.get("subset_per_seed"):
        return [config["data_seed"]]
    if seed is None:
        raise ValueError("this profile draws its training subset per seed (subset_per_seed): give the cell's seed")
    return [config["data_seed"], SUBSET_STREAM, int(seed)]


def prepare(config: dict, data: Cifar | None = None, seed: int | None = None) -> Prepared:
    """Subset and normalise CIFAR-10 as the profile ``config`` says, for the cell of ``seed``.

    The validation images (``validation_size``) are held out of the training
    set first; the training subset is drawn from the rest, so the two never
    share an image, and the test set is never touched by either. The subset
    depends on ``seed`` only when the profile's ``subset_per_seed`` is true;
    the validation and test images never do. Each subset is normalised with
    its own channel statistics.
    """
    data = data if data is not None else load_cifar10()
    x_pool, y_pool, x_val, y_val = hold_out(data.x_train, data.y_train, config.get("validation_size"),
                                            seed=config["data_seed"])
    key = subset_key(config, seed)
    idx = subset_indices(y_pool, config["train_size"], seed=key if len(key) > 1 else key[0])
    x_train, y_train = (x_pool, y_pool) if idx is None else (x_pool[idx], y_pool[idx])
    x_test, y_test = subset(data.x_test, data.y_test, config["test_size"], seed=config["data_seed"])
    mean, std = channel_stats(x_train)
    val = (normalize(x_val, mean, std), y_val) if len(y_val) else (None, None)
    drawn = np.arange(len(y_pool)) if idx is None else idx
    train_subset = {"key": key, "images": int(len(y_train)),
                    "indices_sha256": hashlib.sha256(drawn.astype("<i8").tobytes()).hexdigest()}
    return Prepared(normalize(x_train, mean, std), y_train, normalize(x_test, mean, std), y_test, data.provenance(),
                    *val, train_subset=train_subset)


def check_counts(arrays: dict, where) -> None:
    """The official counts per class, or a :class:`DataError` naming what is off."""
    problems = []
    for split, expected in PER_CLASS.items():
        y = arrays[f"y_{split}"]
        counts = np.bincount(y, minlength=len(CLASSES)) if len(y) else np.zeros(len(CLASSES), int)
        for c, n in enumerate(counts[:len(CLASSES)]):
            if n != expected:
                problems.append(f"{split}/{CLASSES[c]}: {n} images, expected {expected}")
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise DataError(f"{where}: not a complete CIFAR-10 ({shown})")


# --------------------------------------------------------------------------
# Checksums and the cache
# --------------------------------------------------------------------------

def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _sha256_tree(root: Path) -> str:
    """Checksum of an image folder: relative paths and bytes, in sorted order."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def cache_dir() -> Path:
    """``ACTBOOK_CACHE``, or ``~/.cache/actbook``. Set but empty counts as unset (as ``ACTBOOK_CIFAR10``
    does): ``Path("")`` is the current folder, where 185 MB would land unasked."""
    return Path(os.environ.get("ACTBOOK_CACHE") or Path.home() / ".cache" / "actbook")


def _cache_path(name: str, digest: str) -> Path:
    return cache_dir() / f"{name}-v2-{digest[:20]}.npz"


ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")
#: CIFAR-10's arrays take 185 MB; a cache file far larger is not one.
MAX_CACHE_BYTES = 1 << 30


def cache_layout() -> dict:
    """What a decode cache holds (:func:`_save_cache`), as ``{array: (shape, dtype)}``:
    CIFAR-10's arrays at their official counts (:data:`PER_CLASS`), and the hex sha256 of them."""
    train, test = PER_CLASS["train"] * len(CLASSES), PER_CLASS["test"] * len(CLASSES)
    return {"x_train": ((train, 32, 32, 3), "uint8"), "y_train": ((train,), "int64"),
            "x_test": ((test, 32, 32, 3), "uint8"), "y_test": ((test,), "int64"), "digest": ((), "<U64")}


#: The official archives are 163 MB and less: a source is read into memory once,
#: hashed and decoded from those same bytes, so it cannot change in between.
MAX_ARCHIVE_BYTES = 1 << 30
#: A 32x32 image is a few kB; a member far larger is not one (and may inflate to gigabytes).
MAX_IMAGE_BYTES = 1 << 20
#: The official 60,000 images take 55 MB as JPEG and under 200 MB as PNG. An image source is
#: held in memory before its counts can be checked (its images are sorted by path, then
#: decoded), so a source whose image files add up to more, or that holds more than twice
#: as many images as CIFAR-10, is refused as it is read: a small .tar.gz of padded PNGs would otherwise
#: inflate to gigabytes first.
MAX_SOURCE_IMAGE_BYTES = 512 << 20


class _SourceBudget:
    """Counts the files of a source as they are read (at most twice CIFAR-10's
    :data:`PER_CLASS` counts, :data:`MAX_SOURCE_IMAGE_BYTES` in all: a folder's images, an
    archive's members); a :class:`DataError` names the file that crossed a bound."""

    def __init__(self, where: Path):
        self.where, self.images, self.bytes = where, 0, 0

    def take(self, name: str, size: int, image: bool = True) -> None:
        """Count a file (an archive's member: ``image`` False for one that is not an image)."""
        if image and size > MAX_IMAGE_BYTES:
            raise DataError(f"{self.where}: {name} has {size:,} bytes, not a 32x32 image")
        self.images, self.bytes = self.images + 1, self.bytes + size
        most = 2 * sum(PER_CLASS.values()) * len(CLASSES)  # twice: a stray folder is named by check_counts
        if self.images > most:
            raise DataError(f"{self.where}: more than {most:,} files, twice CIFAR-10's images (at {name})")
        if self.bytes > MAX_SOURCE_IMAGE_BYTES:
            raise DataError(f"{self.where}: its files add up to more than {MAX_SOURCE_IMAGE_BYTES:,} bytes (at "
                            f"{name}); CIFAR-10's 60,000 images take under 200 MB")


def arrays_digest(arrays: dict) -> str:
    """sha256 over the decoded arrays (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for k in ARRAY_KEYS:
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _save_cache(path: Path, arrays: dict) -> None:
    """Atomic, with the arrays' checksum inside; an unwritable cache folder means no cache."""
    from actbook.runner.files import write_bytes_atomic
    try:
        write_bytes_atomic(path, lambda f: np.savez(f, **arrays, digest=np.array(arrays_digest(arrays))))
    except OSError:
        pass


def _load_cache(path: Path, expected: str | None = None) -> dict | None:
    """The cached arrays if the file is a readable regular file (a FIFO never
    blocks) and matches its checksum, and ``expected`` when given (a known
    archive's decoded checksum); else None (decode again)."""
    from actbook.runner.files import read_regular_file
    from actbook.runner.npz import npz_problem
    try:
        data = read_regular_file(path, MAX_CACHE_BYTES)
        # np.load allocates what each header asks for: a small deflated file could ask for gigabytes.
        if npz_problem(data, cache_layout(), MAX_CACHE_BYTES, "a decode cache") is not None:
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in ARRAY_KEYS}
            digest = str(z["digest"])
    except Exception:  # truncated, not a zip, missing keys...: decode again and overwrite
        return None
    actual = arrays_digest(arrays)
    return arrays if actual == digest and expected in (None, actual) else None


def _spot_check_indices(n: int, k: int = SPOT_CHECK_IMAGES) -> np.ndarray:
    """``k`` of ``range(n)`` drawn from the operating system's entropy: a cache
    altered to pass the check cannot know which images it will be."""
    return np.random.default_rng().choice(n, size=min(k, n), replace=False)


def _matches_source(arrays: dict, path: Path, data) -> bool:
    """Whether cached ``arrays`` of an image source are its own: every label is
    the one its file's folder gives, and a random sample of images decodes to
    the cached pixels (:func:`_spot_check_indices`)."""
    try:
        rows = _rows(_image_items(path, data), path)
        for split, found in rows.items():
            x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
            if len(y) != len(found) or x.shape != (len(found), 32, 32, 3):
                return False
            if not np.array_equal(y, np.array([c for _, c, _ in found], dtype=np.int64)):
                return False
            for i in _spot_check_indices(len(found)):
                rel, _, image = found[i]
                if not np.array_equal(x[i], _decode_image(image, rel, path)):
                    return False
    except (DataError, tarfile.TarError, EOFError, zlib.error, OSError):
        return False  # decoding again says what is wrong with the source
    return True


#: The temp files a cache write makes (:func:`actbook.runner.files.write_bytes_atomic`: ``tempfile.mkstemp``
#: with prefix ``.<cache name>.`` and suffix ``.tmp``; :func:`_cache_path` names the cache) and nothing else.
_STALE_TEMP = re.compile(r"\.cifar10-v2-[0-9a-z]+\.npz\.[a-z0-9_]+\.tmp")


def _clean_stale_temp(folder: Path) -> None:
    """Temp files a killed cache write left behind: only names the runner gives them
    (:data:`_STALE_TEMP`), so a file of the user's in a shared cache folder is never deleted."""
    for p in folder.glob(".cifar10-v2-*.npz.*.tmp"):
        if not _STALE_TEMP.fullmatch(p.name):
            continue
        try:
            p.unlink()
        except OSError:
            pass


# --------------------------------------------------------------------------
# Decoders
# --------------------------------------------------------------------------

def _decode_image(data: bytes, name: str, where: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    try:
        # Only the formats an image source holds: Pillow would otherwise try every plugin it has,
        # EPS among them, which runs Ghostscript on the file.
        with Image.open(io.BytesIO(data), formats=DECODED_FORMATS) as im:
            if im.size != (32, 32):  # from the header: a decompression bomb is refused before it inflates
                raise DataError(f"{where}: image {name!r} is {im.size[0]}x{im.size[1]} pixels, expected 32x32")
            if im.mode not in EIGHT_BIT_MODES:  # 16-bit or float images would clip to white
                raise DataError(f"{where}: image {name!r} is {im.mode!r}, not 8 bits per channel "
                                f"(expected one of {', '.join(EIGHT_BIT_MODES)})")
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError:
        raise DataError(f"{where}: cannot decode image {name!r} (not a {' or '.join(DECODED_FORMATS)} image)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{where}: cannot decode image {name!r} ({e})") from None
    if arr.shape != (32, 32, 3):
        raise DataError(f"{where}: image {name!r} has shape {arr.shape}, expected (32, 32, 3)")
    return arr


def _split_and_class(rel: PurePosixPath, where: Path):
    """(split, class index) from a path ``.../<train|test>/<class>/<file>``."""
    parts = rel.parts
    if len(parts) < 3 or parts[-3] not in ("train", "test"):
        return None
    cls = parts[-2]
    if cls not in CLASSES:
        raise DataError(f"{where}: unknown class folder {cls!r} in {rel}; expected one of {', '.join(CLASSES)}")
    return parts[-3], CLASSES.index(cls)


def _rows(items, where: Path) -> dict:
    """``{"train"|"test": [(path, class index, bytes), ...]}``, in sorted path
    order: the order of the decoded arrays."""
    split = {"train": [], "test": []}
    for rel, data in items:
        key = _split_and_class(PurePosixPath(rel), where)
        if key is not None:
            split[key[0]].append((rel, key[1], data))
    for rows in split.values():
        rows.sort(key=lambda r: r[0])
    return split


def _collect(items, where: Path) -> dict:
    """Stack decoded images into arrays, in sorted path order for stability."""
    out = {}
    for name, rows in _rows(items, where).items():
        if not rows:
            raise DataError(f"{where}: no {name}/<class>/*.jpg|png images found")
        out[f"x_{name}"] = np.stack([_decode_image(d, r, where) for r, _, d in rows])
        out[f"y_{name}"] = np.array([c for _, c, _ in rows], dtype=np.int64)
    return out


def _folder_images(root: Path) -> list[tuple[str, bytes]]:
    """(relative path, bytes) of every image of a folder, each read once, sorted by path."""
    out, budget = [], _SourceBudget(root)
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            budget.take(str(p.relative_to(root)), p.stat().st_size)
            out.append((p.relative_to(root).as_posix(), p.read_bytes()))
    return out


def _read_image_folder(root: Path) -> dict:
    return _collect(_folder_images(root), root)


def _sha256_images(root: Path, images: list[tuple[str, bytes]]) -> str:
    """:func:`_sha256_tree`'s checksum, of images already read."""
    h = hashlib.sha256()
    for rel, data in images:
        h.update(rel.encode())
        h.update(data)
    return h.hexdigest()


def _read_archive(path: Path) -> bytes:
    from actbook.runner.files import Unreadable, read_regular_file
    try:
        return read_regular_file(path, MAX_ARCHIVE_BYTES)
    except Unreadable as e:
        raise DataError(f"{path}: {e}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def _tar_images(path: Path, data: bytes):
    """(member name, bytes) of every image of a tar archive held in ``data``."""
    budget = _SourceBudget(path)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            # Every member counts, image or not: tarfile keeps each one's header and inflates
            # through each one's bytes to reach the next, so a small archive of many empty
            # members (memory) or one long run of zeros (time) costs what its images would.
            image = m.isfile() and PurePosixPath(m.name).suffix.lower() in IMAGE_SUFFIXES
            budget.take(m.name, m.size, image=image)
            if image:
                yield m.name, tar.extractfile(m).read()


def _image_items(path: Path, data):
    """(path, bytes) of every image of a folder's images already read, or of a tar archive's bytes."""
    return data if path.is_dir() else _tar_images(path, data)


def _read_image_tar(path: Path, data: bytes) -> dict:
    return _collect(_tar_images(path, data), path)


def _read_official_python(path: Path, data: bytes) -> dict:
    """The official pickled release; only called after its sha256 matched."""
    batches = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            name = PurePosixPath(m.name).name
            if m.isfile() and (name.startswith("data_batch_") or name == "test_batch"):
                batches[name] = pickle.load(tar.extractfile(m), encoding="bytes")

    def stack(names):
        x = np.concatenate([batches[n][b"data"] for n in names]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        y = np.concatenate([np.asarray(batches[n][b"labels"], dtype=np.int64) for n in names])
        return np.ascontiguousarray(x, dtype=np.uint8), y

    x_train, y_train = stack([f"data_batch_{i}" for i in range(1, 6)])
    x_test, y_test = stack(["test_batch"])
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _is_pickled_release(data: bytes) -> bool:
    """Whether an archive looks like the pickled release (a damaged one: no)."""
    try:
        return _is_official_python_tar(data)
    except (tarfile.TarError, EOFError, zlib.error, OSError):
        return False


def _is_official_python_tar(data: bytes) -> bool:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            if PurePosixPath(m.name).name == "data_batch_1":
                return True
            if PurePosixPath(m.name).suffix.lower() in IMAGE_SUFFIXES:
                return False
    return False


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

def _decode_source(path: Path, digest: str, data) -> dict:
    """Decode a verified local source from the bytes that were hashed (an
    archive's, or a folder's images); every failure names the file."""
    if path.is_dir():
        return _collect(data, path)
    try:
        if _is_official_python_tar(data):
            if digest != OFFICIAL_PYTHON_SHA256:
                raise DataError(
                    f"{path}: looks like the pickled CIFAR-10 release but its sha256 {digest} is not the "
                    f"official {OFFICIAL_PYTHON_SHA256}; refusing to unpickle an unverified file")
            return _read_official_python(path, data)
        return _read_image_tar(path, data)
    except DataError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError, pickle.UnpicklingError, KeyError) as e:
        raise DataError(f"{path}: corrupt or truncated archive ({type(e).__name__}: {e})") from None


def _describe(path: Path, digest: str) -> str:
    if digest in KNOWN_ARCHIVES:
        return KNOWN_ARCHIVES[digest]
    kind = "image folder" if path.is_dir() else "archive"
    return f"CIFAR-10, local {kind} {path.name} (unrecognised checksum)"


def load_cifar10(source: str | os.PathLike | None = None, use_cache: bool = True) -> Cifar:
    """Load CIFAR-10 as uint8 arrays; see the module docstring for the order."""
    source = source if source is not None else os.environ.get(ENV_VAR) or None
    if source is None:
        return _load_from_keras()
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (set {ENV_VAR} to a CIFAR-10 image folder, "
                        f"a .tar/.tar.gz of one, or cifar-10-python.tar.gz)")
    if not (path.is_dir() or path.is_file()):  # /dev/zero, a FIFO: would be hashed forever
        raise DataError(f"{path}: not a regular file or folder")
    # One read: the bytes hashed are the bytes decoded, so a file changed meanwhile
    # is never trained on under the checksum of what it was.
    data = _folder_images(path) if path.is_dir() else _read_archive(path)
    digest = _sha256_images(path, data) if path.is_dir() else hashlib.sha256(data).hexdigest()
    expected = KNOWN_NAMES.get(path.name)
    if expected is not None and digest != expected:
        raise DataError(f"{path}: sha256 {digest} does not match the known {expected} for {path.name} "
                        f"(truncated or modified download?)")
    arrays = None
    cache = _cache_path("cifar10", digest)
    known = KNOWN_DECODED.get(digest)
    # The pickled release is never cached: unpickling it is as quick as reading a cache.
    use_cache = use_cache and not (path.is_file() and _is_pickled_release(data))
    if use_cache and cache.exists():
        arrays = _load_cache(cache, known)
        # A cache made for this checksum but rewritten with another checksum of its own.
        if arrays is not None and known is None and not _matches_source(arrays, path, data):
            arrays = None
    if arrays is None:
        arrays = _decode_source(path, digest, data)
        check_counts(arrays, path)
        if known is not None and arrays_digest(arrays) != known:
            warnings.warn(f"{path.name}: decoded here to other pixels than with the pinned Pillow 13.0.0 "
                          f"(requirements.txt), so cells trained on them will not repeat the committed ones; "
                          f"and since such arrays cannot be told from a tampered cache, every load decodes "
                          f"the archive again", DecodingWarning, stacklevel=2)
            use_cache = False
        if use_cache:
            if cache.parent.is_dir():
                _clean_stale_temp(cache.parent)
            _save_cache(cache, arrays)
    return Cifar(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                 CLASSES, str(path.resolve()), digest, _describe(path, digest))


def _load_from_keras() -> Cifar:
    import keras
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as e:  # no network, proxy, half-written download...
        raise DataError(
            f"could not download cifar10 through keras.datasets ({type(e).__name__}: {e}). "
            f"Offline, set {ENV_VAR} to a local CIFAR-10: an image folder train|test/<class>/*.jpg|png, "
            f"a .tar/.tar.gz of one, or the official cifar-10-python.tar.gz") from None
    return Cifar(x_train, y_train.reshape(-1).astype(np.int64), x_test, y_test.reshape(-1).astype(np.int64),
                 CLASSES, "keras.datasets.cifar10", OFFICIAL_PYTHON_SHA256,
                 "CIFAR-10, official release via keras.datasets")
