"""S3-style object storage under `Engine.s3_root`.

`s3://bucket/key` maps to `<s3_root>/bucket/key`. `s3_root` is either a local directory or a
URI that `pyarrow.fs.FileSystem.from_uri` understands (`file:///...`, `s3://bucket/prefix`,
`gs://...`, `mock://`), so the same delivery stream writes to a local tree or a real bucket.

Objects appear atomically: on a local filesystem an object is written under a temporary name
in `<s3_root>/.engine-tmp/` and renamed into place (rename is atomic on POSIX, and the
temporary directory is outside every bucket, so a reader listing a prefix never sees a partial
file). On an object store the content is complete in memory before anything is sent, then goes
up as one PUT or one multipart upload, which becomes visible only when CompleteMultipartUpload
succeeds: a part that fails stops the upload before that request (the parts already sent stay
invisible; a bucket lifecycle rule AbortIncompleteMultipartUpload reclaims them on AWS). Object
stores have no directories, so none are made.

`s3_root` as an object store: `s3://bucket/prefix?...` keeps every Firehose bucket under that
prefix (`s3://bucket/prefix/<firehose bucket>/<key>`); `s3://?...` (no bucket) maps each
Firehose bucket to the real bucket of that name. Query parameters are pyarrow's
(`region=`, `endpoint_override=host:port`, `scheme=http`); credentials come from the usual AWS
environment (variables, profile, instance role).

How a key maps to a path. An S3 key is a flat string; the store splits it at "/" and turns each
piece into one path segment, escaping what a filesystem would interpret: "%" -> "%25",
"\\" -> "%5C", NUL -> "%00", a segment "." or ".." -> "%2E" / "%2E%2E", and an empty segment
(from "//" or a leading "/") -> "%". Ordinary keys (`dt=2024-01-02/hour=03/x.parquet`) are left
as they are; the mapping is one-to-one, so `list` gives the keys back, and whatever a key holds,
its path stays under `<s3_root>/<bucket>/` (Hive-style readers decode %XX the same way). Bucket
names must follow S3's naming rules, so a bucket is always one plain directory.
"""
from __future__ import annotations

import ipaddress
import os
import re
import threading
import uuid
import weakref
from typing import Callable

import pyarrow as pa
import pyarrow.fs as pafs

from . import limits

TMP_DIR = ".engine-tmp"
OBJECT_STORES = ("s3", "gcs", "abfs")      # pyarrow filesystems with objects, not directories
_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_SEGMENT_ESCAPES = str.maketrans({"%": "%25", "\\": "%5C", "\0": "%00"})
_ESCAPE = re.compile(r"%(25|5C|00|2E)")
_UNESCAPE = {"25": "%", "5C": "\\", "00": "\0", "2E": "."}


class InvalidObjectKey(ValueError):
    """A key this store cannot hold (a segment longer than the filesystem allows)."""


def bucket_name_problem(name: str) -> str | None:
    """Why `name` breaks S3's general-purpose bucket naming rules, or None if it follows them."""
    if not limits.S3_BUCKET_NAME_MIN <= len(name) <= limits.S3_BUCKET_NAME_MAX:
        return (f"Bucket names must be between {limits.S3_BUCKET_NAME_MIN} and {limits.S3_BUCKET_NAME_MAX} "
                "characters long.")
    if not _BUCKET_CHARS.fullmatch(name):
        return ("Bucket names can consist only of lowercase letters, numbers, periods and hyphens, and must "
                "begin and end with a letter or number.")
    if ".." in name:
        return "Bucket names must not contain two adjacent periods."
    try:
        ipaddress.IPv4Address(name)
        return "Bucket names must not be formatted as an IP address."
    except ValueError:
        pass
    if name.startswith(_RESERVED_BUCKET_PREFIXES) or name.endswith(_RESERVED_BUCKET_SUFFIXES):
        return "Bucket names must not use a prefix or suffix that S3 reserves."
    return None


def key_to_path(key: str) -> str:
    """The relative path of an object key (see the module docstring)."""
    return "/".join(_segment(part) for part in key.split("/"))


def _segment(part: str) -> str:
    if part in ("", ".", ".."):
        return "%" if not part else "%2E" * len(part)
    return part.translate(_SEGMENT_ESCAPES)


def path_to_key(path: str) -> str:
    return "/".join("" if part == "%" else _ESCAPE.sub(lambda m: _UNESCAPE[m.group(1)], part)
                    for part in path.split("/"))


def bucket_from_arn(bucket_arn: str) -> str:
    """arn:aws:s3:::my-bucket -> my-bucket."""
    return bucket_arn.split(":::", 1)[1] if ":::" in bucket_arn else bucket_arn


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/some/key -> ("bucket", "some/key")."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class S3Store:
    """Buckets and keys on a pyarrow filesystem rooted at `root`."""

    def __init__(self, root: str):
        self.root = root
        if "://" in root:
            fs, base = pafs.FileSystem.from_uri(root)
        else:
            fs, base = pafs.LocalFileSystem(), os.path.abspath(root)
        self.filesystem: pafs.FileSystem = fs
        self.base = base.rstrip("/")
        self.is_local = isinstance(fs, pafs.LocalFileSystem)
        self.is_object_store = fs.type_name in OBJECT_STORES
        self._made: set[str] = set()
        self._lock = threading.Lock()

    # --- paths -------------------------------------------------------------------------
    def path(self, bucket: str, key: str = "") -> str:
        """Filesystem path of s3://bucket/key (a directory when key is '' or ends with '/')."""
        problem = bucket_name_problem(bucket)
        if problem is not None:
            raise ValueError(f"invalid bucket name {bucket!r}: {problem}")
        if key.endswith("/"):
            key = key[:-1]
        relative = key_to_path(key) if key else ""
        if self.is_local and any(len(part.encode("utf-8", "surrogatepass")) > limits.LOCAL_PATH_SEGMENT_MAX_BYTES
                                 for part in relative.split("/")):
            raise InvalidObjectKey(f"a segment of the key {key[:80]!r}... is longer than "
                                   f"{limits.LOCAL_PATH_SEGMENT_MAX_BYTES} bytes")
        return "/".join(p for p in (self.base, bucket, relative) if p)

    def _ensure_dir(self, directory: str) -> None:
        if not directory or directory in self._made:
            return
        self.filesystem.create_dir(directory, recursive=True)
        with self._lock:
            self._made.add(directory)

    def _forget_dir(self, directory: str) -> None:
        """After a failed write: the directory may have gone; check it again next time."""
        with self._lock:
            self._made.discard(directory)

    # --- writing -----------------------------------------------------------------------
    def write(self, bucket: str, key: str, writer: Callable[[pa.NativeFile], None]) -> str:
        """Create s3://bucket/key atomically; `writer(stream)` writes the content."""
        final = self.path(bucket, key)
        if self.is_object_store:
            sink = pa.BufferOutputStream()
            writer(sink)
            return self._upload(final, sink.getvalue())
        directory = final.rsplit("/", 1)[0] if "/" in final else ""
        try:
            self._ensure_dir(directory)
            if not self.is_local:      # another filesystem (mock://): one write, as it offers
                with self.filesystem.open_output_stream(final, compression=None) as out:
                    writer(out)
                return final
        except BaseException:
            self._forget_dir(directory)
            raise
        tmp_dir = "/".join(p for p in (self.base, TMP_DIR) if p)
        tmp = f"{tmp_dir}/{uuid.uuid4().hex}"
        try:
            self._ensure_dir(tmp_dir)
            with self.filesystem.open_output_stream(tmp, compression=None) as out:
                writer(out)
            self.filesystem.move(tmp, final)
        except BaseException:
            self._forget_dir(directory)
            self._forget_dir(tmp_dir)
            try:
                self.filesystem.delete_file(tmp)
            except Exception:  # noqa: BLE001 - the temporary file may never have been created
                pass
            raise
        return final

    def _upload(self, path: str, data) -> str:
        """One object store upload of complete content: visible whole, or not at all."""
        out = self.filesystem.open_output_stream(path, compression=None)
        out.write(data)     # a failed part fails here or in close(), and then nothing completes
        out.close()         # CompleteMultipartUpload (or the single PUT): the object appears
        return path

    def put(self, bucket: str, key: str, data) -> str:
        """Create s3://bucket/key with `data` (bytes, memoryview or pyarrow Buffer), atomically."""
        if self.is_object_store:
            return self._upload(self.path(bucket, key), data)
        return self.write(bucket, key, lambda out: out.write(data))

    # --- reading (tests, tools) -------------------------------------------------------
    def get(self, bucket: str, key: str) -> bytes:
        with self.filesystem.open_input_stream(self.path(bucket, key), compression=None) as f:
            return f.read()

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys of s3://bucket/ starting with prefix, sorted."""
        root = self.path(bucket)
        selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
        keys = []
        for info in self.filesystem.get_file_info(selector):
            if info.type == pafs.FileType.File:
                key = path_to_key(info.path[len(root) + 1:] if root else info.path)
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)


_stores: "weakref.WeakKeyDictionary[object, S3Store]" = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def store_for(engine) -> S3Store:
    """The S3Store of an Engine (one per engine, rebuilt if its s3_root changes).

    One instance per engine matters for in-memory filesystems (`mock://`): every writer and
    reader of that engine sees the same objects."""
    with _stores_lock:
        store = _stores.get(engine)
        if store is None or store.root != engine.s3_root:
            store = S3Store(engine.s3_root)
            _stores[engine] = store
        return store


def resolve(engine, uri: str) -> tuple[pafs.FileSystem, str]:
    """s3://bucket/key -> (pyarrow filesystem, path) under the engine's s3_root.

    >>> fs, path = resolve(eng, "s3://bucket/prefix/")
    >>> pyarrow.dataset.dataset(path, filesystem=fs, format="parquet")
    """
    bucket, key = parse_s3_uri(uri)
    store = store_for(engine)
    return store.filesystem, store.path(bucket, key.rstrip("/"))


__all__ = ["S3Store", "store_for", "resolve", "parse_s3_uri", "bucket_from_arn", "bucket_name_problem",
           "key_to_path", "path_to_key", "InvalidObjectKey"]
