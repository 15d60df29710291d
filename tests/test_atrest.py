"""engine.atrest: AES-256-GCM under the data dir's key file."""
import os
import stat
import threading

import pytest

from engine.atrest import KEY_FILE, AtRestDecryptError, AtRestError, AtRestKey, AtRestKeyMissing


def test_round_trip_and_key_file_created_private(tmp_path):
    key = AtRestKey.open(str(tmp_path))
    sealed = key.encrypt(b"hello records", b"stream-a/1")
    assert b"hello records" not in sealed
    assert key.decrypt(sealed, b"stream-a/1") == b"hello records"
    mode = stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode)
    assert mode == 0o600
    assert os.path.getsize(tmp_path / KEY_FILE) == 32
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]   # no temporary file left


def test_the_key_survives_reopening(tmp_path):
    sealed = AtRestKey.open(str(tmp_path)).encrypt(b"payload", b"aad")
    assert AtRestKey.open(str(tmp_path), create=False).decrypt(sealed, b"aad") == b"payload"


def test_a_fresh_nonce_per_payload(tmp_path):
    key = AtRestKey.open(str(tmp_path))
    a, b = key.encrypt(b"same", b""), key.encrypt(b"same", b"")
    assert a[:12] != b[:12] and a != b


def test_missing_key_file_is_named_in_the_error(tmp_path):
    with pytest.raises(AtRestKeyMissing, match=KEY_FILE):
        AtRestKey.open(str(tmp_path), create=False)
    assert not (tmp_path / KEY_FILE).exists()


@pytest.mark.parametrize("damage", ["aad", "flip", "other key", "short"])
def test_a_tag_that_does_not_check_is_an_error(tmp_path, damage):
    key = AtRestKey.open(str(tmp_path / "a"))
    sealed = key.encrypt(b"payload", b"aad")
    aad = b"aad"
    if damage == "aad":
        aad = b"other"
    elif damage == "flip":
        sealed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    elif damage == "other key":
        key = AtRestKey.open(str(tmp_path / "b"))
    else:
        sealed = sealed[:20]
    with pytest.raises(AtRestDecryptError, match="frame 7.*authentication failed"):
        key.decrypt(sealed, aad, what="frame 7")


def test_a_key_file_of_the_wrong_size_is_refused(tmp_path):
    (tmp_path / KEY_FILE).write_bytes(b"short")
    with pytest.raises(AtRestError, match="holds 32 bytes"):
        AtRestKey.open(str(tmp_path))


def test_concurrent_first_use_agrees_on_one_key(tmp_path):
    keys = []
    threads = [threading.Thread(target=lambda: keys.append(AtRestKey.open(str(tmp_path)))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sealed = keys[0].encrypt(b"x", b"")
    assert all(k.decrypt(sealed, b"") == b"x" for k in keys)


def test_buffer_payloads_are_accepted(tmp_path):
    key = AtRestKey.open(str(tmp_path))
    sealed = key.encrypt(memoryview(b"abcdef")[1:4], b"")
    assert key.decrypt(memoryview(sealed), b"") == b"bcd"
