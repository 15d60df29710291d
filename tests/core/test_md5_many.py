"""en_md5_many (csrc/md5many.c), the MD5OfMessageBody of each message of a send, through the
native queue's send: eight AVX2 lanes that each take the next message once theirs is done (SSE2
four at a time on CPUs without AVX2). Every digest must equal hashlib's, whatever the mix of
lengths in one call: block boundaries (55/56/64 bytes and their multiples), odd counts that
leave lanes idle, one long message among short ones and the reverse."""
import hashlib
import random

import pytest

from engine import _core

CHARS = "abcdefghij <>&\"'\n\té€\U0001F600"   # 1- to 4-byte UTF-8


def digests(bodies):
    q = _core.MessageQueue(3600 * 1000, "id-", "h-", 1)
    return q.send(0, bodies).md5s


def expected(bodies):
    return [hashlib.md5(b.encode() if isinstance(b, str) else b).hexdigest() for b in bodies]


def text(rng, n):
    return "".join(rng.choice(CHARS) for _ in range(n))


def test_every_length_up_to_300_bytes_in_one_call():
    bodies = [bytes(33 + k % 94 for k in range(n)) for n in range(1, 301)]
    assert digests(bodies) == expected(bodies)
    shuffled = bodies[:]
    random.Random(0).shuffle(shuffled)
    assert digests(shuffled) == expected(shuffled)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 9, 15, 17, 31, 101])
def test_odd_counts_of_mixed_lengths(count):
    rng = random.Random(count)
    bodies = [text(rng, rng.choice([rng.randint(1, 300), rng.randint(1, 65536)])) for _ in range(count)]
    assert digests(bodies) == expected(bodies)


def test_one_long_message_among_short_ones_and_the_reverse():
    rng = random.Random(1)
    long_ = "L" * 65536
    short = [text(rng, rng.randint(1, 120)) for _ in range(40)]
    for bodies in ([long_] + short, short + [long_], short[:20] + [long_] + short[20:],
                   [long_ + str(i) for i in range(9)] + ["s"]):
        assert digests(bodies) == expected(bodies)


def test_random_batches_of_text_up_to_64_kib():
    rng = random.Random(2)
    for _ in range(20):
        bodies = [text(rng, rng.randint(1, 1 << rng.randint(0, 16))) for _ in range(rng.randint(1, 60))]
        assert digests(bodies) == expected(bodies)


def test_equal_lengths_around_an_envelope():
    """The SNS fan-out's case: many bodies of about the same length (~600 bytes)."""
    rng = random.Random(3)
    bodies = [text(rng, rng.randint(590, 640)) for _ in range(1000)]
    assert digests(bodies) == expected(bodies)
