"""The upload store: sanitised names, opaque keys, limits, nothing left behind on refusal."""

import io

import pytest

from lmscore.config import UploadsSettings
from lmscore.errors import ValidationFailed
from lmscore.storage import FileStore, sanitise_filename


@pytest.fixture
def store(tmp_path):
    return FileStore(UploadsSettings(root=str(tmp_path / "up"), max_mb=1,
                                     allowed_extensions=("pdf", "txt")))


@pytest.mark.parametrize("raw, clean", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\me\\notes.txt", "notes.txt"),
    ("a<b>|c\x00d.txt", "a_b_c_d.txt"),
    ("  ..hidden.txt ", "hidden.txt"),
    ("...", "upload"),
    ("ﬁle.txt", "file.txt"),  # NFKC: the ligature becomes two letters
    ("x" * 300 + ".txt", "x" * 196 + ".txt"),
    ("y" * 300, "y" * 200),
])
def test_sanitise_filename(raw, clean):
    assert sanitise_filename(raw) == clean


def test_saved_under_a_random_key_not_the_name(store, tmp_path):
    a = store.save(io.BytesIO(b"one"), "same.txt")
    b = store.save(io.BytesIO(b"two"), "same.txt")
    assert a.key != b.key and (a.name, a.size) == ("same.txt", 3)
    assert store.path(a.key).read_bytes() == b"one"
    assert store.path(a.key).is_relative_to(tmp_path / "up")
    store.delete(a.key)
    assert not store.path(a.key).exists() and store.path(b.key).exists()


@pytest.mark.parametrize("key", ["../etc/passwd", "ABCDEF" * 6, "", "a" * 31])
def test_only_opaque_keys_map_to_paths(store, key):
    with pytest.raises(ValueError):
        store.path(key)


@pytest.mark.parametrize("data, name, message", [
    (b"x" * (1024 * 1024 + 1), "big.txt", "larger than 1 MB"),
    (b"x", "tool.exe", "not accepted"),
    (b"", "empty.txt", "empty"),
])
def test_refused_files_leave_nothing_on_disk(store, tmp_path, data, name, message):
    with pytest.raises(ValidationFailed, match=message):
        store.save(io.BytesIO(data), name)
    root = tmp_path / "up"
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]


def test_exactly_the_limit_is_accepted(store):
    assert store.save(io.BytesIO(b"x" * 1024 * 1024), "max.PDF").size == 1024 * 1024
