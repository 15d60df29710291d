"""engine.atrest nonces: counting up from a random start, never repeated under one key, from
any thread or any key object opened on the same key file; a caller's head byte goes in front."""
import threading

from engine.atrest import NONCE_BYTES, AtRestKey


def test_nonces_never_repeat_across_threads_and_key_objects(tmp_path):
    keys = [AtRestKey.open(str(tmp_path)), AtRestKey.open(str(tmp_path))]   # (a restart opens the file again)
    nonces = [[] for _ in range(8)]

    def seal(k):
        key = keys[k % 2]
        nonces[k].extend(key.encrypt(b"x", b"aad")[:NONCE_BYTES] for _ in range(2000))
    threads = [threading.Thread(target=seal, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [n for per_thread in nonces for n in per_thread]
    assert len(set(every)) == len(every) == 16000


def test_a_head_goes_in_front_of_the_sealed_payload(tmp_path):
    key = AtRestKey.open(str(tmp_path))
    sealed = key.encrypt(b"payload", b"aad", b"\x01")
    assert sealed[:1] == b"\x01"
    assert key.decrypt(sealed[1:], b"aad") == b"payload"
