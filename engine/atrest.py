"""Encryption at rest for durable engines (issue 13): AES-256-GCM under a key kept in a file of
the data dir. A resource that asks for encryption (Kinesis StreamEncryption, SQS
KmsMasterKeyId / SqsManagedSseEnabled, SNS KmsMasterKeyId) has its data written encrypted with
it. This is a local key file, not KMS: anyone who can read the data dir can read the key.

    key = AtRestKey.open(data_dir)             # creates <data_dir>/atrest.key (0600) on first use
    sealed = key.encrypt(payload, aad)         # nonce (12 bytes) + ciphertext + tag (16 bytes)
    sealed = key.encrypt(payload, aad, head)   # head + the same, in one copy (a caller's frame byte)
    payload = key.decrypt(sealed, aad)         # AtRestDecryptError if the tag does not check

`aad` (associated data: authenticated, not stored) binds a sealed payload to where it belongs
(e.g. a stream and its first sequence number), so a frame copied elsewhere does not decrypt.
Nonces count up from a random 96-bit start per key object: unique under the key within a
process, and two processes' runs overlap only with negligible probability (2^-55 for 2^40
payloads each), without a getrandom(2) per payload.
Reopening a data dir that holds encrypted data uses AtRestKey.open(data_dir, create=False):
a missing key file is then an error naming it, never a fresh key that decrypts nothing.
"""
import itertools
import os
import tempfile

KEY_FILE = "atrest.key"
KEY_BYTES = 32            # AES-256
NONCE_BYTES = 12          # GCM's 96-bit nonce, counting up from a random start
NONCE_MASK = (1 << NONCE_BYTES * 8) - 1
TAG_BYTES = 16


class AtRestError(Exception):
    """Encrypted data cannot be written or read."""


class AtRestKeyMissing(AtRestError):
    def __init__(self, path: str):
        super().__init__(f"{path}: the encryption key file is missing; data encrypted at rest under it cannot be read")
        self.path = path


class AtRestDecryptError(AtRestError):
    def __init__(self, path: str, what: str):
        super().__init__(f"{what}: AES-GCM authentication failed under the key in {path} "
                         "(another data dir's key file, or damaged data)")
        self.path = path


class AtRestKey:
    """The data dir's key; thread-safe (AESGCM holds no per-call state)."""

    def __init__(self, path: str, key: bytes):
        if len(key) != KEY_BYTES:
            raise AtRestError(f"{path}: an encryption key file holds {KEY_BYTES} bytes, not {len(key)}")
        self.path = path
        # imported here: a process without a data dir or encryption never loads cryptography
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        self._aead = AESGCM(key)
        self._nonces = itertools.count(int.from_bytes(os.urandom(NONCE_BYTES), "little"))   # (next() is atomic)

    @classmethod
    def open(cls, data_dir: str, create: bool = True) -> "AtRestKey":
        path = os.path.join(data_dir, KEY_FILE)
        try:
            with open(path, "rb") as f:
                return cls(path, f.read())
        except FileNotFoundError:
            if not create:
                raise AtRestKeyMissing(path) from None
        return cls(path, _create_key_file(path))

    def encrypt(self, payload, aad: bytes, head: bytes = b"") -> bytes:
        nonce = (next(self._nonces) & NONCE_MASK).to_bytes(NONCE_BYTES, "little")
        return head + nonce + self._aead.encrypt(nonce, _bytes_view(payload), aad)

    def decrypt(self, sealed, aad: bytes, what: str = "encrypted data") -> bytes:
        """The payload `encrypt` sealed with the same aad; `what` names it in the error."""
        view = _bytes_view(sealed)
        if len(view) < NONCE_BYTES + TAG_BYTES:
            raise AtRestDecryptError(self.path, what)
        from cryptography.exceptions import InvalidTag
        try:
            return self._aead.decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], aad)
        except InvalidTag:
            raise AtRestDecryptError(self.path, what) from None


def _bytes_view(data):
    # cryptography takes unsigned-byte buffers only; a pyarrow Buffer exports signed ones
    return data if data.__class__ is bytes else memoryview(data).cast("B")


def _create_key_file(path: str) -> bytes:
    """Write a new random key, or read the one a concurrent creator linked first: the key
    appears whole under its name (written to a private file, then hard-linked) or not at all."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    key = os.urandom(KEY_BYTES)   # what AESGCM.generate_key returns
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=KEY_FILE + ".")   # created 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())    # a key lost to a power loss would make every frame under it unreadable
        try:
            os.link(tmp, path)
        except FileExistsError:
            with open(path, "rb") as f:
                return f.read()
    finally:
        os.unlink(tmp)
    dir_fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return key
