"""S3-style object storage under `Engine.s3_root`.

`s3://bucket/key` maps to `<s3_root>/bucket/key`. `s3_root` is either a local directory or a
URI that `pyarrow.fs.FileSystem.from_uri` understands (`file:///...`, `s3://bucket/prefix`,
`gs://...`, `mock://`), so the same delivery stream writes to a local tree or a real bucket.

Objects appear atomically: on a local filesystem an object is written under a temporary name
in `<s3_root>/.engine-tmp/` and renamed into place (rename is atomic on POSIX, and the
temporary directory is outside every bucket, so a reader listing a prefix never sees a partial
file); on an object store it is one PUT (or a multipart upload, which becomes visible only when
it completes).
"""
from __future__ import annotations

import os
import threading
import uuid
import weakref
from typing import Callable

import pyarrow as pa
import pyarrow.fs as pafs

TMP_DIR = ".engine-tmp"


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
        self._made: set[str] = set()
        self._lock = threading.Lock()

    # --- paths -------------------------------------------------------------------------
    def path(self, bucket: str, key: str = "") -> str:
        """Filesystem path of s3://bucket/key (a directory when key is '' or ends with '/')."""
        parts = [p for p in (self.base, bucket, key) if p]
        return "/".join(parts)

    def _ensure_dir(self, directory: str) -> None:
        if not directory or directory in self._made:
            return
        self.filesystem.create_dir(directory, recursive=True)
        with self._lock:
            self._made.add(directory)

    # --- writing -----------------------------------------------------------------------
    def write(self, bucket: str, key: str, writer: Callable[[pa.NativeFile], None]) -> str:
        """Create s3://bucket/key atomically; `writer(stream)` writes the content."""
        final = self.path(bucket, key)
        self._ensure_dir(final.rsplit("/", 1)[0] if "/" in final else "")
        if not self.is_local:
            with self.filesystem.open_output_stream(final, compression=None) as out:
                writer(out)
            return final
        tmp_dir = "/".join(p for p in (self.base, TMP_DIR) if p)
        self._ensure_dir(tmp_dir)
        tmp = f"{tmp_dir}/{uuid.uuid4().hex}"
        try:
            with self.filesystem.open_output_stream(tmp, compression=None) as out:
                writer(out)
            self.filesystem.move(tmp, final)
        except BaseException:
            try:
                self.filesystem.delete_file(tmp)
            except Exception:
                pass
            raise
        return final

    def put(self, bucket: str, key: str, data) -> str:
        """Create s3://bucket/key with `data` (bytes, memoryview or pyarrow Buffer), atomically."""
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
                key = info.path[len(root) + 1:] if root else info.path
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


__all__ = ["S3Store", "store_for", "resolve", "parse_s3_uri", "bucket_from_arn"]
