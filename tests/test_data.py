"""CIFAR-10 loading: sources, integrity, cache, pipeline."""

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from actbook.runner import data as D

OFFICIAL_PER_CLASS = dict(D.PER_CLASS)  # before the fixture below shrinks it for the small test trees


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTBOOK_CACHE", str(tmp_path / "cache"))
    # The test trees hold 2 images per class and split instead of 5,000 / 1,000.
    monkeypatch.setattr(D, "PER_CLASS", {"train": 2, "test": 2})


def _png(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def make_tree(root: Path, per_class: int = 2) -> Path:
    for split in ("train", "test"):
        for c, cls in enumerate(D.CLASSES):
            d = root / "cifar" / split / cls
            d.mkdir(parents=True)
            for i in range(per_class):
                (d / f"{i:04d}.png").write_bytes(_png(hash((split, c, i)) % 2**32))
    return root / "cifar"


def make_tar(tree: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(tree, arcname="cifar")
    return out


def test_image_folder_and_tar_give_same_arrays(tmp_path):
    tree = make_tree(tmp_path)
    a = D.load_cifar10(tree)
    b = D.load_cifar10(make_tar(tree, tmp_path / "mine.tar.gz"))
    assert a.x_train.shape == (20, 32, 32, 3) and a.x_test.shape == (20, 32, 32, 3)
    assert a.x_train.dtype == np.uint8 and a.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(a.y_train), 2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert "unrecognised checksum" in b.description and len(b.sha256) == 64
    expected = np.asarray(Image.open(tree / "train" / "bird" / "0001.png"))
    np.testing.assert_array_equal(a.x_train[a.y_train == 2][1], expected)


def test_cache_is_used_on_second_load(tmp_path, monkeypatch):
    archive = make_tar(make_tree(tmp_path), tmp_path / "mine.tar.gz")
    first = D.load_cifar10(archive)
    assert list((tmp_path / "cache").glob("cifar10-*.npz"))

    def boom(*a, **k):
        raise AssertionError("decoded again instead of using the cache")
    monkeypatch.setattr(D, "_decode_source", boom)
    second = D.load_cifar10(archive)
    np.testing.assert_array_equal(first.x_train, second.x_train)


def test_env_variable_is_the_default_source(tmp_path, monkeypatch):
    tree = make_tree(tmp_path)
    monkeypatch.setenv("ACTBOOK_CIFAR10", str(tree))
    data = D.load_cifar10()
    assert data.source == str(tree.resolve())
    assert data.provenance()["source"] == "cifar"  # a name, never the machine's path


def test_truncated_archive_names_the_file(tmp_path):
    archive = make_tar(make_tree(tmp_path, per_class=3), tmp_path / "mine.tar.gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(D.DataError, match="cut.tar.gz.*corrupt or truncated"):
        D.load_cifar10(cut)


def test_known_name_with_wrong_checksum_is_refused(tmp_path):
    fake = make_tar(make_tree(tmp_path), tmp_path / "cifar10-jpeg.tar.gz")
    with pytest.raises(D.DataError, match="does not match the known"):
        D.load_cifar10(fake)


def test_unofficial_pickle_is_never_unpickled(tmp_path):
    class Bomb:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    payload = pickle.dumps({b"data": Bomb()})
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(D.DataError, match="refusing to unpickle"):
        D.load_cifar10(archive)
    assert not (tmp_path / "pwned").exists()


def test_corrupt_image_names_image(tmp_path):
    tree = make_tree(tmp_path)
    (tree / "test" / "cat" / "0000.png").write_bytes(b"not an image")
    with pytest.raises(D.DataError, match="test/cat/0000.png"):
        D.load_cifar10(tree)


def test_unknown_class_and_missing_path(tmp_path):
    tree = make_tree(tmp_path)
    (tree / "train" / "zebra").mkdir()
    (tree / "train" / "zebra" / "0.png").write_bytes(_png(0))
    with pytest.raises(D.DataError, match="unknown class folder 'zebra'"):
        D.load_cifar10(tree)
    with pytest.raises(D.DataError, match="no such file.*ACTBOOK_CIFAR10"):
        D.load_cifar10(tmp_path / "nowhere.tar.gz")


def test_offline_without_path_says_how_to_fix(monkeypatch):
    import keras
    monkeypatch.delenv("ACTBOOK_CIFAR10", raising=False)

    def offline():
        raise OSError("network unreachable")
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(D.DataError, match="ACTBOOK_CIFAR10"):
        D.load_cifar10()


def test_subset_normalize_and_pipeline():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (100, 32, 32, 3), dtype=np.uint8)
    y = np.repeat(np.arange(10), 10)
    xs, ys = D.subset(x, y, 50, seed=1)
    np.testing.assert_array_equal(np.bincount(ys), 5)
    with pytest.raises(ValueError, match="multiple"):
        D.subset(x, y, 55)
    mean, std = D.channel_stats(xs)
    xn = D.normalize(xs, mean, std)
    assert xn.dtype == np.float32
    np.testing.assert_allclose(xn.reshape(-1, 3).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(xn.reshape(-1, 3).std(0), 1, atol=1e-4)



def test_training_stream_is_a_function_of_seed_epoch_and_batch():
    """Any batch can be made on its own and is always the same; epochs and
    seeds differ; an epoch visits every image once; crops keep the padding's
    zeros inside the image and flips mirror it."""
    from actbook.runner import stream as S
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 32, 32, 3)).astype(np.float32)
    y = np.arange(50) % 10

    def epoch(seed, e, augment=True):
        return [S.training_batch(x, y, 16, seed, e, b, augment) for b in range(4)]

    a, again = epoch(3, 0), epoch(3, 0)
    assert all(np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) for p, q in zip(a, again))
    alone = S.training_batch(x, y, 16, 3, 0, 2)  # batch 2 without batches 0 and 1
    assert np.array_equal(alone[0], a[2][0])
    assert not np.array_equal(a[0][0], epoch(3, 1)[0][0]) and not np.array_equal(a[0][0], epoch(4, 0)[0][0])
    assert [len(b[1]) for b in a] == [16, 16, 16, 2]
    plain = epoch(3, 0, augment=False)
    order = S.epoch_order(50, 3, 0)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in plain]), x[order])
    assert sorted(order) == list(range(50))
    assert a[0][0].dtype == np.float32 and a[0][1].dtype == np.int32

    img = np.arange(32 * 32 * 3, dtype=np.float32).reshape(1, 32, 32, 3) + 1

    class Fixed:  # offsets (0, 8) and a flip: rows -4..27, columns 4..35, mirrored
        def integers(self, low, high, size):
            return np.array([[0, 8]])

        def random(self, n):
            return np.array([0.0])

    out = S.augment_batch(img, Fixed())[0]
    expected = np.pad(img[0], ((4, 4), (4, 4), (0, 0)))[0:32, 8:40][:, ::-1]
    np.testing.assert_array_equal(out, expected)
    assert (out[:4] == 0).all() and (out[:, :4] == 0).all()  # padding rows on top, padded columns now on the left


def test_a_16_bit_png_is_refused_not_decoded_white(tmp_path):
    from PIL import Image
    folder = tmp_path / "cifar" / "train" / "cat"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((32, 32), 40000, np.uint16)).save(folder / "0000.png")
    with pytest.raises(D.DataError, match="0000.png.*not 8 bits per channel"):
        D._read_image_folder(tmp_path / "cifar")


@pytest.mark.skipif(not os.environ.get("ACTBOOK_CIFAR10"), reason="ACTBOOK_CIFAR10 not set")
def test_real_cifar10_from_env(monkeypatch):
    monkeypatch.setattr(D, "PER_CLASS", OFFICIAL_PER_CLASS)
    data = D.load_cifar10()
    assert data.x_train.shape == (50000, 32, 32, 3) and data.x_test.shape == (10000, 32, 32, 3)
    np.testing.assert_array_equal(np.bincount(data.y_train), 5000)
    np.testing.assert_array_equal(np.bincount(data.y_test), 1000)
    if data.sha256 in D.KNOWN_ARCHIVES:
        assert data.description == D.KNOWN_ARCHIVES[data.sha256]


def test_missing_class_duplicates_and_cut_archives_are_refused(tmp_path):
    tree = make_tree(tmp_path)
    for f in (tree / "test" / "cat").iterdir():
        f.unlink()
    with pytest.raises(D.DataError, match="test/cat: 0 images, expected 2"):
        D.load_cifar10(tree)
    twice = make_tree(tmp_path / "twice")
    for f in list((twice / "train" / "dog").iterdir()):
        (f.parent / ("copy-" + f.name)).write_bytes(f.read_bytes())
    with pytest.raises(D.DataError, match="train/dog: 4 images, expected 2"):
        D.load_cifar10(twice)


def test_tar_cut_at_a_member_boundary_is_refused(tmp_path):
    tree = make_tree(tmp_path)
    members = sorted(p for p in tree.rglob("*.png"))[:25]
    cut = tmp_path / "cut.tar"
    with tarfile.open(cut, "w") as tar:
        for m in members:
            tar.add(m, arcname=str(m.relative_to(tmp_path)))
    with pytest.raises(D.DataError, match="not a complete CIFAR-10"):
        D.load_cifar10(cut)


@pytest.mark.parametrize("damage", ["zeros", "shifted_labels", "truncated", "not_a_zip"])
def test_a_damaged_cache_is_decoded_again(tmp_path, damage):
    archive = make_tar(make_tree(tmp_path), tmp_path / "mine.tar.gz")
    first = D.load_cifar10(archive)
    cache = next((tmp_path / "cache").glob("cifar10-*.npz"))
    if damage in ("zeros", "shifted_labels"):
        with np.load(cache) as z:
            arrays = {k: z[k] for k in z.files}
        if damage == "zeros":
            arrays["x_train"] = np.zeros_like(arrays["x_train"])
        else:
            arrays["y_train"] = (arrays["y_train"] + 1) % 10
        np.savez(cache, **arrays)
    elif damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:200])
    else:
        cache.write_text("garbage")
    again = D.load_cifar10(archive)
    np.testing.assert_array_equal(again.x_train, first.x_train)
    np.testing.assert_array_equal(again.y_train, first.y_train)
    assert D._load_cache(cache) is not None  # rewritten


def test_unwritable_cache_means_no_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("ACTBOOK_CACHE", str(blocker / "cache"))
    data = D.load_cifar10(make_tree(tmp_path))
    assert data.x_train.shape[0] == 20


def test_stale_temp_files_are_cleaned(tmp_path):
    archive = make_tar(make_tree(tmp_path), tmp_path / "mine.tar.gz")
    (tmp_path / "cache").mkdir()
    stale = tmp_path / "cache" / ".cifar10-v2-x.npz.abc.tmp"
    stale.write_bytes(b"half")
    D.load_cifar10(archive)
    assert not stale.exists()


def test_special_files_are_refused():
    with pytest.raises(D.DataError, match="not a regular file or folder"):
        D.load_cifar10("/dev/zero")


# --------------------------------------------------------------------------
# Issue 40: the bytes hashed are the bytes decoded; files that are not what they claim
# --------------------------------------------------------------------------

def test_an_archive_changed_after_hashing_is_not_decoded_under_the_old_checksum(tmp_path, monkeypatch):
    """The archive is swapped for another right after its checksum is taken:
    the arrays are still those of the bytes that were hashed."""
    archive = make_tar(make_tree(tmp_path / "a"), tmp_path / "mine.tar.gz")
    original = D.load_cifar10(archive, use_cache=False)
    tree_b = make_tree(tmp_path / "b")
    for f in sorted((tree_b / "train").rglob("*.png"))[:5]:  # other images than the original's
        f.write_bytes(_png(12345 + len(f.name)))
    other = make_tar(tree_b, tmp_path / "other.tar.gz")
    import hashlib
    real, swapped = hashlib.sha256, []

    class SwapAfterHashing:
        def __init__(self, *a):
            self.h = real(*a)

        def update(self, b):
            self.h.update(b)

        def hexdigest(self):
            if not swapped:
                swapped.append(True)
                os.replace(other, archive)
            return self.h.hexdigest()

    monkeypatch.setattr(D.hashlib, "sha256", SwapAfterHashing)
    loaded = D.load_cifar10(archive, use_cache=False)
    assert swapped and loaded.sha256 == original.sha256
    np.testing.assert_array_equal(loaded.x_train, original.x_train)


def test_the_folder_checksum_is_unchanged(tmp_path):
    """Hashing the images once read gives the checksum the committed cells record."""
    tree = make_tree(tmp_path)
    assert D._sha256_images(tree, D._folder_images(tree)) == D._sha256_tree(tree)
    assert D.load_cifar10(tree).sha256 == D._sha256_tree(tree)


def _finishes(fn, fifo, seconds=20):
    import threading
    out = {}
    thread = threading.Thread(target=lambda: out.update(value=fn()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(seconds)
        pytest.fail(f"hung on the FIFO {fifo}")
    return out.get("value")


def test_a_fifo_where_the_cache_should_be_does_not_hang(tmp_path):
    archive = make_tar(make_tree(tmp_path), tmp_path / "mine.tar.gz")
    import hashlib
    cache = D._cache_path("cifar10", hashlib.sha256(archive.read_bytes()).hexdigest())
    cache.parent.mkdir(parents=True)
    os.mkfifo(cache)
    loaded = _finishes(lambda: D.load_cifar10(archive), cache)
    assert loaded is not None and loaded.x_train.shape == (20, 32, 32, 3)


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused_before_it_inflates(tmp_path):
    tree = make_tree(tmp_path)
    (tree / "train" / "cat" / "0000.png").write_bytes(_png_header(40_000, 40_000))
    with pytest.raises(D.DataError, match="0000.png.*40000x40000|0000.png.*decompression bomb"):
        D.load_cifar10(tree)


def test_an_archive_member_far_larger_than_an_image_is_refused_unread(tmp_path):
    tree = make_tree(tmp_path)
    (tree / "train" / "cat" / "0000.png").write_bytes(b"\0" * (2 << 20))
    with pytest.raises(D.DataError, match="0000.png has 2,097,152 bytes, not a 32x32 image"):
        D.load_cifar10(make_tar(tree, tmp_path / "big.tar.gz"))


# --------------------------------------------------------------------------
# Issue 40: the cache is checked against the source it came from
# --------------------------------------------------------------------------

def _rewrite_cache(cache: Path, change) -> None:
    """Alter the cached arrays and record their new checksum, as a deliberate edit would."""
    with np.load(cache) as z:
        arrays = {k: z[k].copy() for k in D.ARRAY_KEYS}
    change(arrays)
    np.savez(cache, **arrays, digest=np.array(D.arrays_digest(arrays)))


def _one_image_changed(arrays):
    arrays["x_train"][7] = 255 - arrays["x_train"][7]


def _labels_swapped(arrays):
    arrays["y_test"][[0, -1]] = arrays["y_test"][[-1, 0]]


@pytest.mark.parametrize("change", [_one_image_changed, _labels_swapped])
@pytest.mark.parametrize("source", ["folder", "archive"])
def test_a_cache_rewritten_with_its_checksum_is_not_used_for_an_unknown_source(tmp_path, source, change):
    """The images are checked against the source at random (every one here: 20 per split,
    fewer than the sample), the labels all of them."""
    tree = make_tree(tmp_path)
    where = tree if source == "folder" else make_tar(tree, tmp_path / "mine.tar.gz")
    first = D.load_cifar10(where)
    cache = next((tmp_path / "cache").glob("cifar10-*.npz"))
    _rewrite_cache(cache, change)
    assert D._load_cache(cache) is not None  # its own checksum matches: only the source can tell
    again = D.load_cifar10(where)
    for k in D.ARRAY_KEYS:
        np.testing.assert_array_equal(getattr(again, k), getattr(first, k))
    assert D._matches_source(D._load_cache(cache), where, D._folder_images(tree) if source == "folder"
                             else where.read_bytes())  # decoded again and rewritten


def test_a_cache_rewritten_with_its_checksum_is_not_used_for_a_known_archive(tmp_path, monkeypatch):
    """For an archive whose decoded arrays are known, any other arrays are refused without a spot check."""
    archive = make_tar(make_tree(tmp_path), tmp_path / "mine.tar.gz")
    first = D.load_cifar10(archive)
    monkeypatch.setitem(D.KNOWN_DECODED, first.sha256, D.arrays_digest(vars(first)))
    monkeypatch.setattr(D, "_matches_source", lambda *a: pytest.fail("a known archive needs no spot check"))
    cache = next((tmp_path / "cache").glob("cifar10-*.npz"))
    _rewrite_cache(cache, _one_image_changed)
    decoded = []
    real = D._decode_source
    monkeypatch.setattr(D, "_decode_source", lambda *a: decoded.append(1) or real(*a))
    again = D.load_cifar10(archive)
    assert decoded == [1]
    np.testing.assert_array_equal(again.x_train, first.x_train)
    D.load_cifar10(archive)  # the cache rewritten from the source is used
    assert decoded == [1]


def test_a_known_archive_that_decodes_to_other_pixels_warns_and_is_not_cached(tmp_path, monkeypatch):
    """Another Pillow or libjpeg: the arrays are not those the committed cells trained on."""
    archive = make_tar(make_tree(tmp_path), tmp_path / "mine.tar.gz")
    import hashlib
    monkeypatch.setitem(D.KNOWN_DECODED, hashlib.sha256(archive.read_bytes()).hexdigest(), "0" * 64)
    with pytest.warns(D.DecodingWarning, match="pinned Pillow"):
        D.load_cifar10(archive)
    assert not list((tmp_path / "cache").glob("cifar10-*.npz"))


def test_the_known_jpeg_copy_decodes_to_the_committed_arrays(monkeypatch):
    """The committed checksum of the decoded JPEG copy is what this machine's Pillow gives."""
    monkeypatch.setattr(D, "PER_CLASS", OFFICIAL_PER_CLASS)  # the real archive, not a small test tree
    source = os.environ.get("ACTBOOK_CIFAR10", "")
    if Path(source).name != "cifar10-jpeg.tar.gz":
        pytest.skip("ACTBOOK_CIFAR10 is not the JPEG copy")
    data = Path(source).read_bytes()
    import hashlib
    digest = hashlib.sha256(data).hexdigest()
    arrays = D._decode_source(Path(source), digest, data)
    assert D.arrays_digest(arrays) == D.KNOWN_DECODED[digest]


def test_the_spot_check_draws_other_images_each_time():
    draws = {tuple(sorted(D._spot_check_indices(60_000))) for _ in range(3)}
    assert len(draws) == 3 and all(len(d) == D.SPOT_CHECK_IMAGES for d in draws)


def _pickled_release(out: Path) -> Path:
    """A tiny archive laid out as the pickled release: 2 images per class and split."""
    rng = np.random.default_rng(0)
    with tarfile.open(out, "w:gz") as tar:
        for name, labels in [(f"data_batch_{i}", [2 * i - 2, 2 * i - 1] * 2) for i in range(1, 6)] + [
                ("test_batch", list(range(10)) * 2)]:
            payload = pickle.dumps({b"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8),
                                    b"labels": labels})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return out


def test_the_pickled_release_is_never_cached(tmp_path, monkeypatch):
    """Unpickling it takes as long as reading a cache, which could be altered."""
    archive = _pickled_release(tmp_path / "cifar-10-python.tar.gz")
    import hashlib
    monkeypatch.setattr(D, "OFFICIAL_PYTHON_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    monkeypatch.setitem(D.KNOWN_NAMES, archive.name, D.OFFICIAL_PYTHON_SHA256)
    first = D.load_cifar10(archive)
    assert first.x_train.shape == (20, 32, 32, 3)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("*.npz"))
