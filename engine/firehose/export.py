"""The data side of delivery: record arrays -> S3 objects.

* raw delivery: the records concatenated (a zero-copy slice of the binary array's data buffer),
  optionally GZIP / ZIP / Snappy (framing format) / HADOOP_SNAPPY;
* record format conversion: JSON records -> Arrow through pyarrow's JSON reader with the Glue
  schema as explicit_schema (no Python loop per record on the good path), then Parquet or ORC;
* dynamic partition keys from MetadataExtraction queries, computed on Arrow columns;
* object names: <prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>.
"""
from __future__ import annotations

import base64
import datetime
import decimal
import gzip
import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from .. import _core, limits
from .prefix import KeyQuery

# --- record arrays ---------------------------------------------------------------------


def as_binary_array(records) -> pa.Array:
    """list of bytes/str, numpy array, or a pyarrow (chunked) binary/string array -> one binary array."""
    if isinstance(records, pa.ChunkedArray):
        records = records.combine_chunks() if records.num_chunks != 1 else records.chunk(0)
    if isinstance(records, pa.Array):
        t = records.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return records
        if pa.types.is_string(t):
            return records.view(pa.binary())
        if pa.types.is_large_string(t):
            return records.view(pa.large_binary())
        raise TypeError(f"records must be binary or string, got {t}")
    if isinstance(records, np.ndarray) and records.dtype.kind in "SU":
        return pa.array(records.astype(object) if records.dtype.kind == "U" else list(records), pa.binary()) \
            if records.dtype.kind == "S" else pa.array(records, pa.string()).view(pa.binary())
    if isinstance(records, (list, tuple, np.ndarray)):
        if len(records) and isinstance(records[0], str):
            return pa.array(records, pa.string()).view(pa.binary())
        return pa.array(records, pa.binary())
    raise TypeError(f"cannot make records from {type(records).__name__}")


def concat_binary(arrays: list) -> pa.Array:
    if not arrays:
        return pa.array([], pa.binary())
    if len(arrays) == 1:
        return arrays[0]
    if any(pa.types.is_large_binary(a.type) for a in arrays) or sum(value_bytes(a) for a in arrays) >= 2**31 - 1:
        arrays = [a.cast(pa.large_binary()) for a in arrays]
    return pa.concat_arrays(arrays)


def value_bytes(arr: pa.Array) -> int:
    """Bytes of record data in a binary array (not counting offsets)."""
    if len(arr) == 0:
        return 0
    width = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width, count=len(arr) + 1, offset=arr.offset * width().itemsize)
    return int(offsets[-1] - offsets[0])


def offsets(arr: pa.Array) -> np.ndarray:
    """A binary or string array's offsets (its own slice of them), as numpy, zero-copy."""
    width = np.int64 if pa.types.is_large_binary(arr.type) or pa.types.is_large_string(arr.type) else np.int32
    return np.frombuffer(arr.buffers()[1], dtype=width, count=len(arr) + 1, offset=arr.offset * width().itemsize)


def concatenated(arr: pa.Array) -> pa.Buffer:
    """The records end to end, as AWS writes raw objects: a zero-copy slice of the data buffer."""
    if len(arr) == 0:
        return pa.py_buffer(b"")
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(b"", arr.type))
    bounds = offsets(arr)
    data = arr.buffers()[2]
    if data is None:
        return pa.py_buffer(b"")
    return data.slice(int(bounds[0]), int(bounds[-1] - bounds[0]))


def newline_joined(arr: pa.Array) -> tuple[pa.Buffer, int]:
    """Records each followed by '\\n' (one C kernel), and the number of '\\n' bytes in the result."""
    if len(arr) == 0:
        return pa.py_buffer(b""), 0
    nl = pa.scalar(b"\n", arr.type)
    inner = pc.sum(pc.count_substring(arr, "\n")).as_py() or 0
    joined = pc.binary_join_element_wise(arr, pa.scalar(b"", arr.type), nl)
    return concatenated(joined), int(inner) + len(arr)


def base64_list(arr: pa.Array) -> list[str]:
    return [base64.b64encode(b).decode("ascii") for b in arr.to_pylist()]


# --- compression of raw objects --------------------------------------------------------
_EXTENSIONS = {"UNCOMPRESSED": "", "GZIP": ".gz", "ZIP": ".zip", "Snappy": ".snappy", "HADOOP_SNAPPY": ".snappy"}


def compression_extension(fmt: str) -> str:
    return _EXTENSIONS.get(fmt, "")


def _crc32c_table() -> np.ndarray:
    poly = 0x82F63B78
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table[i] = c
    return table


_CRC32C = None


def crc32c_many(chunks: np.ndarray) -> np.ndarray:
    """CRC-32C of each row of a 2-D uint8 array (all rows the same length), vectorised across rows."""
    global _CRC32C
    if _CRC32C is None:
        _CRC32C = _crc32c_table()
    crc = np.full(chunks.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for j in range(chunks.shape[1]):
        crc = _CRC32C[(crc ^ chunks[:, j]) & 0xFF] ^ (crc >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)


def crc32c(data: bytes) -> int:
    if not data:
        return 0
    return int(crc32c_many(np.frombuffer(data, dtype=np.uint8).reshape(1, -1))[0])


def _masked(crc: np.ndarray) -> np.ndarray:
    crc = crc.astype(np.uint64)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


SNAPPY_FRAME_CHUNK = 4096   # uncompressed bytes per frame (<= 65536); small frames vectorise the CRC


def snappy_framed(data) -> bytes:
    """The Snappy framing format (stream identifier + compressed chunks with masked CRC-32C)."""
    codec = pa.Codec("snappy")
    raw = np.frombuffer(data, dtype=np.uint8)
    n = len(raw)
    out = io.BytesIO()
    out.write(b"\xff\x06\x00\x00sNaPpY")
    if n == 0:
        return out.getvalue()
    size = SNAPPY_FRAME_CHUNK
    full = n // size
    crcs = []
    if full:
        crcs.extend(_masked(crc32c_many(raw[:full * size].reshape(full, size))).tolist())
    if n % size:
        crcs.extend(_masked(crc32c_many(raw[full * size:].reshape(1, -1))).tolist())
    for i, crc in enumerate(crcs):
        piece = raw[i * size:(i + 1) * size]
        comp = codec.compress(piece, asbytes=True)
        if len(comp) < len(piece):
            kind, body = 0x00, comp
        else:
            kind, body = 0x01, piece.tobytes()
        length = len(body) + 4
        out.write(bytes([kind, length & 0xFF, (length >> 8) & 0xFF, (length >> 16) & 0xFF]))
        out.write(int(crc).to_bytes(4, "little"))
        out.write(body)
    return out.getvalue()


HADOOP_SNAPPY_BLOCK = 256 * 1024


def hadoop_snappy(data) -> bytes:
    """Hadoop's block format for SnappyCodec: per block, 4-byte BE raw length, 4-byte BE compressed length, data."""
    codec = pa.Codec("snappy")
    raw = memoryview(data)
    out = io.BytesIO()
    for start in range(0, len(raw), HADOOP_SNAPPY_BLOCK):
        piece = raw[start:start + HADOOP_SNAPPY_BLOCK]
        comp = codec.compress(piece, asbytes=True)
        out.write(len(piece).to_bytes(4, "big"))
        out.write(len(comp).to_bytes(4, "big"))
        out.write(comp)
    return out.getvalue()


def compress(data, fmt: str, inner_name: str = "data"):
    """Raw object content for CompressionFormat `fmt` (data: bytes or pyarrow Buffer)."""
    if fmt in (None, "UNCOMPRESSED"):
        return data
    if fmt == "GZIP":
        return gzip.compress(memoryview(data), compresslevel=6)
    if fmt == "ZIP":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(inner_name, bytes(memoryview(data)))
        return out.getvalue()
    if fmt == "Snappy":
        return snappy_framed(data)
    if fmt == "HADOOP_SNAPPY":
        return hadoop_snappy(data)
    raise ValueError(f"unknown CompressionFormat {fmt}")


# --- object names ----------------------------------------------------------------------
def object_name(stream_name: str, version: int, arrival_ms: int, tz: datetime.tzinfo, extension: str = "") -> str:
    """<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>."""
    dt = datetime.datetime.fromtimestamp(arrival_ms / 1000.0, tz=tz)
    return f"{stream_name}-{version}-{dt:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{extension}"


# --- JSON -> Arrow with a Glue schema --------------------------------------------------
def _has_map(t: pa.DataType) -> bool:
    if pa.types.is_map(t):
        return True
    if pa.types.is_struct(t):
        return any(_has_map(f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_map(t.value_type)
    return False


def _read_type(t: pa.DataType) -> pa.DataType:
    """The type the JSON reader parses into before casting to `t` (dates arrive as strings)."""
    if pa.types.is_date(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _read_type(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(_read_type(t.value_type))
    return t


@dataclass
class JsonConverter:
    """JSON records -> Arrow table typed by `schema` (from a Glue table).

    `key_mapping` is OpenXJsonSerDe.ColumnToJsonKeyMappings (column -> JSON key). The fast path is
    one pyarrow.json.read_json call per flush; a batch with bad records is bisected, and only
    blocks of <= FALLBACK_BLOCK records that still fail are decoded record by record, to tell the
    good ones (coerced as the OpenX SerDe would) from those that go to format-conversion-failed."""

    schema: pa.Schema
    key_mapping: dict = field(default_factory=dict)
    case_insensitive: bool = True

    FALLBACK_BLOCK = 256

    def __post_init__(self):
        self.fast = not any(_has_map(f.type) for f in self.schema)
        fields = []
        for f in self.schema:
            fields.append(pa.field(self.key_mapping.get(f.name, f.name), _read_type(f.type)))
        self.read_schema = pa.schema(fields)
        self._renames = [f.name for f in self.schema]

    def convert(self, arr: pa.Array) -> tuple[pa.Table, np.ndarray, dict]:
        """-> (table of the good records in order, int64 indices of those records, {index: error message})."""
        good_tables: list[pa.Table] = []
        good_idx: list[np.ndarray] = []
        failed: dict[int, str] = {}
        self._convert(arr, 0, len(arr), good_tables, good_idx, failed)
        table = pa.concat_tables(good_tables) if good_tables else self.schema.empty_table()
        idx = np.concatenate(good_idx) if good_idx else np.zeros(0, dtype=np.int64)
        return table, idx, failed

    def _fast(self, arr: pa.Array) -> pa.Table:
        buf, newlines = newline_joined(arr)
        opts = pajson.ParseOptions(explicit_schema=self.read_schema, unexpected_field_behavior="ignore",
                                   newlines_in_values=newlines != len(arr))
        block = max(1 << 20, min(len(buf) // 2 + 1, 16 << 20))
        table = pajson.read_json(pa.BufferReader(buf), read_options=pajson.ReadOptions(block_size=block),
                                 parse_options=opts)
        if table.num_rows != len(arr):
            raise ValueError(f"{len(arr)} records gave {table.num_rows} rows")
        table = table.select([f.name for f in self.read_schema]).rename_columns(self._renames)
        if table.schema != self.schema:
            table = table.cast(self.schema)
        return table

    def _convert(self, arr, lo, hi, tables, idx, failed):
        if hi <= lo:
            return
        if self.fast:
            try:
                tables.append(self._fast(arr.slice(lo, hi - lo)))
                idx.append(np.arange(lo, hi, dtype=np.int64))
                return
            except (pa.ArrowException, ValueError):
                pass
        if not self.fast or hi - lo <= self.FALLBACK_BLOCK:
            self._slow(arr, lo, hi, tables, idx, failed)
            return
        mid = (lo + hi) // 2
        self._convert(arr, lo, mid, tables, idx, failed)
        self._convert(arr, mid, hi, tables, idx, failed)

    def _slow(self, arr, lo, hi, tables, idx, failed):
        rows, ok = [], []
        for i, raw in enumerate(arr.slice(lo, hi - lo).to_pylist(), start=lo):
            try:
                doc = json.loads(raw) if raw is not None else None
                if not isinstance(doc, dict):
                    raise ValueError("the record is not a JSON object" if doc is not None or raw
                                     else "the record is empty")
                row = self._row(doc)
                pa.Table.from_pylist([row], schema=self.schema)   # validates ranges and types
            except Exception as err:  # noqa: BLE001 - every failure is a conversion failure
                failed[i] = _conversion_message(err)
                continue
            rows.append(row)
            ok.append(i)
        if rows:
            tables.append(pa.Table.from_pylist(rows, schema=self.schema))
            idx.append(np.asarray(ok, dtype=np.int64))

    def _row(self, doc: dict) -> dict:
        lookup = {k.lower(): v for k, v in doc.items()} if self.case_insensitive else doc
        row = {}
        for f in self.schema:
            key = self.key_mapping.get(f.name, f.name)
            value = lookup.get(key.lower() if self.case_insensitive else key)
            row[f.name] = _coerce(value, f.type, self.case_insensitive)
        return row


def _conversion_message(err: Exception) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"Invalid JSON: {err.msg} at line {err.lineno} column {err.colno}"
    return str(err) or type(err).__name__


def _coerce(value, t: pa.DataType, ci: bool = True):
    """A JSON value -> the Python value of Arrow type `t`, coercing as the OpenX JSON SerDe does."""
    if value is None:
        return None
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        return str(value)
    if pa.types.is_boolean(t):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"Cannot convert {value!r} to boolean")
    if pa.types.is_integer(t):
        if isinstance(value, bool):
            raise ValueError(f"Cannot convert {value!r} to {t}")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"Cannot convert {value!r} to {t}")
            value = int(value)
        return int(value)
    if pa.types.is_floating(t):
        if isinstance(value, bool):
            raise ValueError(f"Cannot convert {value!r} to {t}")
        return float(value)
    if pa.types.is_decimal(t):
        return decimal.Decimal(str(value)).quantize(decimal.Decimal(1).scaleb(-t.scale))
    if pa.types.is_timestamp(t):
        if isinstance(value, bool):
            raise ValueError(f"Cannot convert {value!r} to timestamp")
        if isinstance(value, (int, float)):
            return datetime.datetime.fromtimestamp(value / 1000.0, tz=datetime.timezone.utc).replace(tzinfo=None)
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return parsed
    if pa.types.is_date(t):
        if isinstance(value, int) and not isinstance(value, bool):
            return datetime.date(1970, 1, 1) + datetime.timedelta(days=value)
        return datetime.date.fromisoformat(str(value)[:10])
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return value.encode("utf-8") if isinstance(value, str) else json.dumps(value).encode("utf-8")
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if not isinstance(value, list):
            raise ValueError(f"Cannot convert {type(value).__name__} to array")
        return [_coerce(v, t.value_type, ci) for v in value]
    if pa.types.is_map(t):
        if not isinstance(value, dict):
            raise ValueError(f"Cannot convert {type(value).__name__} to map")
        return [(_coerce(k, t.key_type, ci), _coerce(v, t.item_type, ci)) for k, v in value.items()]
    if pa.types.is_struct(t):
        if not isinstance(value, dict):
            raise ValueError(f"Cannot convert {type(value).__name__} to struct")
        lookup = {k.lower(): v for k, v in value.items()} if ci else value
        return {f.name: _coerce(lookup.get(f.name.lower() if ci else f.name), f.type, ci) for f in t}
    raise ValueError(f"unsupported type {t}")


# --- columnar writers ------------------------------------------------------------------
PARQUET_CODECS = {"SNAPPY": "snappy", "GZIP": "gzip", "UNCOMPRESSED": "none", "ZSTD": "zstd", "LZ4": "lz4",
                  "BROTLI": "brotli"}
ORC_CODECS = {"SNAPPY": "snappy", "ZLIB": "zlib", "NONE": "uncompressed", "ZSTD": "zstd", "LZ4": "lz4"}


@dataclass
class ColumnarFormat:
    """OutputFormatConfiguration.Serializer: Parquet or ORC through pyarrow."""

    kind: str = "parquet"          # "parquet" | "orc"
    compression: str = "SNAPPY"
    options: dict = field(default_factory=dict)   # the ParquetSerDe / OrcSerDe members

    @property
    def extension(self) -> str:
        """The default object extension of the format (FileExtension overrides it)."""
        return ".orc" if self.kind == "orc" else ".parquet"

    def write(self, table: pa.Table, out) -> None:
        if self.kind == "orc":
            import pyarrow.orc as orc
            kwargs = {"compression": ORC_CODECS.get(self.compression, "snappy")}
            if self.options.get("StripeSizeBytes"):
                kwargs["stripe_size"] = self.options["StripeSizeBytes"]
            if self.options.get("RowIndexStride"):
                kwargs["row_index_stride"] = self.options["RowIndexStride"]
            if self.options.get("BloomFilterColumns"):
                kwargs["bloom_filter_columns"] = [table.schema.get_field_index(c) for c in
                                                  self.options["BloomFilterColumns"] if c in table.schema.names]
            orc.write_table(table, out, **kwargs)
            return
        kwargs = {"compression": PARQUET_CODECS.get(self.compression, "snappy")}
        if self.options.get("PageSizeBytes"):
            kwargs["data_page_size"] = self.options["PageSizeBytes"]
        if self.options.get("EnableDictionaryCompression") is not None:
            kwargs["use_dictionary"] = bool(self.options["EnableDictionaryCompression"])
        else:
            kwargs["use_dictionary"] = dictionary_columns(table)
        if self.options.get("WriterVersion") == "V2":
            kwargs["data_page_version"] = "2.0"
        pq.write_table(table, out, **kwargs)


DICTIONARY_SAMPLE_ROWS = 4096     # a string column's first rows, looked at for how often values repeat
DICTIONARY_SAMPLE_MIN = 1024      # fewer values than this: the column's type decides alone
DICTIONARY_DISTINCT_MAX = 0.5     # more distinct values than this share of the sample: no dictionary


def dictionary_columns(table: pa.Table) -> list[str]:
    """Columns worth a Parquet dictionary when the serializer leaves it to the writer: all but
    timestamps and floating point, whose values rarely repeat, and string columns whose first
    rows rarely repeat (event times as text, ids): a dictionary there costs time to build, is
    abandoned at its page limit, and makes the file larger, not smaller."""
    schema = table.schema
    def leaves(path: str, t: pa.DataType):
        # Parquet's column paths, as pyarrow names them (compliant nested types)
        if pa.types.is_struct(t):
            for f in t:
                yield from leaves(f"{path}.{f.name}", f.type)
        elif pa.types.is_map(t):
            yield from leaves(f"{path}.key_value.key", t.key_type)
            yield from leaves(f"{path}.key_value.value", t.item_type)
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            yield from leaves(f"{path}.list.element", t.value_type)
        elif not (pa.types.is_timestamp(t) or pa.types.is_floating(t)):
            yield path

    def repeats(i: int, f: pa.Field) -> bool:
        if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_binary(f.type)
                or pa.types.is_large_binary(f.type)):
            return True
        sample = table.column(i).slice(0, DICTIONARY_SAMPLE_ROWS)   # (by position: names may repeat)
        values = len(sample) - sample.null_count
        return values < DICTIONARY_SAMPLE_MIN or pc.count_distinct(sample).as_py() <= DICTIONARY_DISTINCT_MAX * values

    return [leaf for i, f in enumerate(schema) if repeats(i, f) for leaf in leaves(f.name, f.type)]


# --- dynamic partition keys ------------------------------------------------------------
def _walk(column, path: list[str]):
    for name in path:
        if column is None or not pa.types.is_struct(column.type):
            return None
        idx = column.type.get_field_index(name)
        if idx < 0:
            return None
        column = pc.struct_field(column, [idx])
    return column


def _to_string(column) -> pa.Array:
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return column
    if pa.types.is_boolean(t):
        return pc.if_else(column, pa.scalar("true"), pa.scalar("false"))
    if pa.types.is_floating(t):
        # jq prints integral doubles without a fraction: 10.0 -> "10"
        as_int = pc.cast(column, pa.int64(), safe=False)
        integral = pc.equal(pc.cast(as_int, t), column)
        return pc.if_else(integral, pc.cast(as_int, pa.string()), pc.cast(column, pa.string()))
    if pa.types.is_struct(t) or pa.types.is_list(t):
        raise TypeError("not a scalar")
    return pc.cast(column, pa.string())


def _apply_filters(column, filters) -> pa.Array:
    for f in filters:
        if f[0] == "strftime":
            seconds = column if not pa.types.is_string(column.type) else pc.cast(column, pa.float64())
            ts = pc.cast(pc.multiply(pc.cast(seconds, pa.float64()), 1000.0), pa.int64(), safe=False)
            ts = ts.cast(pa.timestamp("ms", tz="UTC"))
            column = pc.strftime(ts, format=f[1].replace("%Z", "UTC"))
        elif f[0] == "tostring":
            column = _to_string(column)
        elif f[0] == "ascii_downcase":
            column = pc.ascii_lower(_to_string(column))
        elif f[0] == "ascii_upcase":
            column = pc.ascii_upper(_to_string(column))
        elif f[0] == "floor":
            column = pc.floor(column)
        elif f[0] == "tojson":
            column = _to_string(column)
    return _to_string(column)


def extract_keys(arr: pa.Array, queries: list[KeyQuery]) -> tuple[dict, np.ndarray]:
    """Evaluate MetadataExtraction key queries on JSON records.

    -> ({key: string array (null where it failed)}, boolean array of records whose keys all resolved).
    One inferring read_json of the batch does the work; records are decoded one by one only if
    that read fails (invalid JSON or type conflicts between records)."""
    n = len(arr)
    try:
        buf, newlines = newline_joined(arr)
        table = _read_key_fields(arr, buf, newlines != n, queries)
        if table is None:
            table = pajson.read_json(pa.BufferReader(buf),
                                     parse_options=pajson.ParseOptions(newlines_in_values=newlines != n))
        if any(_has_timestamp(f.type) for f in table.schema):
            # The reader turns date-like strings into timestamps; jq sees the original text.
            strings = pa.schema([(f.name, _timestamps_as_strings(f.type)) for f in table.schema])
            table = pajson.read_json(pa.BufferReader(buf), parse_options=pajson.ParseOptions(
                newlines_in_values=newlines != n, explicit_schema=strings))
        if table.num_rows != n:
            raise ValueError("row count")
        root = pa.StructArray.from_arrays(
            [c.combine_chunks() for c in table.columns], names=table.column_names) if table.num_columns else None
        keys = {}
        for q in queries:
            col = root if not q.path else _walk(root, q.path)
            if col is None:
                keys[q.key] = pa.nulls(n, pa.string())
                continue
            keys[q.key] = _apply_filters(col, q.filters)
    except Exception:  # noqa: BLE001 - the batch read failed somewhere: decide record by record
        keys = _extract_slow(arr, queries)
    ok = np.ones(n, dtype=bool)
    for col in keys.values():
        # a key that is missing, null or empty cannot name a partition
        ok &= np.asarray(pc.fill_null(pc.greater(pc.binary_length(col), 0), False).to_numpy(zero_copy_only=False),
                         dtype=bool)
    return keys, ok


def _read_key_fields(arr: pa.Array, buf: pa.Buffer, newlines_in_values: bool, queries) -> pa.Table | None:
    """Parse only the top-level fields the queries use, typed as a sample of the batch shows
    them; None when that cannot work (a field absent from the sample, types changing later)."""
    if not queries or any(not q.path for q in queries):
        return None
    names = list(dict.fromkeys(q.path[0] for q in queries))
    sample_buf, sample_nl = newline_joined(arr[:1024])
    try:
        sample = pajson.read_json(pa.BufferReader(sample_buf),
                                  parse_options=pajson.ParseOptions(newlines_in_values=newlines_in_values))
    except pa.ArrowException:
        return None
    if any(name not in sample.schema.names or pa.types.is_null(sample.schema.field(name).type) for name in names):
        return None
    schema = pa.schema([(name, _timestamps_as_strings(sample.schema.field(name).type)) for name in names])
    try:
        return pajson.read_json(pa.BufferReader(buf), parse_options=pajson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=newlines_in_values))
    except pa.ArrowException:
        return None


def _has_timestamp(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t):
        return True
    if pa.types.is_struct(t):
        return any(_has_timestamp(f.type) for f in t)
    if pa.types.is_list(t):
        return _has_timestamp(t.value_type)
    return False


def _timestamps_as_strings(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([(f.name, _timestamps_as_strings(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(_timestamps_as_strings(t.value_type))
    return t


def _extract_slow(arr: pa.Array, queries: list[KeyQuery]) -> dict:
    """One record at a time: a record whose query fails gets a null key (and goes to the error
    output), the others keep theirs."""
    values = {q.key: [] for q in queries}
    for raw in arr.to_pylist():
        try:
            doc = json.loads(raw)
        except Exception:  # noqa: BLE001 - not JSON (or nested beyond the parser): no keys
            doc = None
        for q in queries:
            v = doc
            try:
                for name in q.path:
                    v = v.get(name) if isinstance(v, dict) else None
                v = partition_value(_jq_scalar(v, q.filters))
            except Exception:  # noqa: BLE001 - the query failed on this record
                v = None
            values[q.key].append(v)
    return {k: pa.array(v, pa.string()) for k, v in values.items()}


def partition_value(value) -> str | None:
    """A partition key value as a string an object key can hold, or None (the record fails)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:   # a lone surrogate
        return None
    return text


def _jq_scalar(v, filters):
    for f in filters:
        if v is None:
            return None
        if f[0] == "strftime":
            v = datetime.datetime.fromtimestamp(float(v), tz=datetime.timezone.utc).strftime(f[1])
        elif f[0] == "ascii_downcase":
            v = str(v).lower()
        elif f[0] == "ascii_upcase":
            v = str(v).upper()
        elif f[0] == "floor":
            v = int(float(v) // 1)
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def group_indices(keys: dict, names: list[str]) -> list[tuple[dict, np.ndarray]]:
    """Rows grouped by their partition key values: [({key: value}, row indices in arrival order)],
    the groups in the order of their first rows (one pass in C: csrc/groupkeys.c)."""
    if not names:
        return []
    cols = [keys[k].combine_chunks() if isinstance(keys[k], pa.ChunkedArray) else keys[k] for k in names]
    if len(cols[0]) == 0:
        return []
    order, bounds, firsts = _core.group_keys(cols)
    return [({k: col[int(first)].as_py() for k, col in zip(names, cols)}, order[bounds[g]:bounds[g + 1]])
            for g, first in enumerate(firsts)]


def rows_of(table: pa.Table, idx: np.ndarray) -> pa.Table:
    """table rows idx (ascending): zero-copy slices when they form few runs, else a take."""
    if len(idx) == table.num_rows:
        return table
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    if len(breaks) >= limits.FIREHOSE_GROUP_RUNS_MAX:
        return table.take(pa.array(idx, pa.int64()))
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(idx)]])
    return pa.concat_tables([table.slice(int(idx[a]), int(b - a)) for a, b in zip(starts, ends)])


def _is_identity(rows: np.ndarray, n: int) -> bool:
    return len(rows) == n and (n == 0 or (rows[0] == 0 and rows[-1] == n - 1 and bool(np.all(np.diff(rows) == 1))))


def _merge_order(fast_idx: np.ndarray, slow_idx: np.ndarray) -> np.ndarray:
    """Positions that put [fast..., slow...] back in record order."""
    return np.argsort(np.concatenate([fast_idx, slow_idx]), kind="stable")


def keys_from_columns(doubtful_data: pa.Array | None, rows: np.ndarray, columns: dict,
                      queries: list[KeyQuery]) -> tuple[dict, np.ndarray] | None:
    """extract_keys for records the fast pass took (rows[i] >= 0: their top-level members as
    strings in `columns`) and, through extract_keys, the others (doubtful_data: all records,
    None when there are none). None when a filter fails on the columns (extract_keys decides)."""
    fast_idx = np.flatnonzero(rows >= 0)
    picks = rows[fast_idx]
    keys = {}
    try:
        for q in queries:
            col = columns[q.path[0]]
            col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            if not _is_identity(picks, len(col)):
                col = col.take(pa.array(picks, pa.int64()))
            keys[q.key] = _apply_filters(col, q.filters)
    except (pa.ArrowException, ValueError, TypeError):
        return None
    if len(fast_idx) != len(rows):
        slow_idx = np.flatnonzero(rows < 0)
        slow_keys, _ = extract_keys(doubtful_data.take(pa.array(slow_idx, pa.int64())), queries)
        order = pa.array(_merge_order(fast_idx, slow_idx), pa.int64())
        keys = {k: pa.concat_arrays([keys[k], slow_keys[k].cast(keys[k].type)]).take(order) for k in keys}
    ok = np.ones(len(rows), dtype=bool)
    for col in keys.values():
        ok &= np.asarray(pc.fill_null(pc.greater(pc.binary_length(col), 0), False).to_numpy(zero_copy_only=False),
                         dtype=bool)
    return keys, ok


def merge_converted(table: pa.Table, rows: np.ndarray, doubtful_data: pa.Array | None,
                    converter: JsonConverter) -> tuple[pa.Table, np.ndarray, dict]:
    """JsonConverter.convert's answer from the fast pass's table (rows[i]: record i's row, -1 for
    a record it left) and the converter's for the records it left (doubtful_data: all records,
    None when there are none)."""
    fast_idx = np.flatnonzero(rows >= 0)
    picks = rows[fast_idx]
    if not _is_identity(picks, table.num_rows):
        table = table.take(pa.array(picks, pa.int64()))
    if len(fast_idx) == len(rows):
        return table, fast_idx, {}
    slow_idx = np.flatnonzero(rows < 0)
    slow_table, slow_good, slow_failed = converter.convert(doubtful_data.take(pa.array(slow_idx, pa.int64())))
    good = np.concatenate([fast_idx, slow_idx[slow_good]])
    order = np.argsort(good, kind="stable")
    merged = pa.concat_tables([table, slow_table]).take(pa.array(order, pa.int64()))
    return merged, good[order], {int(slow_idx[i]): message for i, message in slow_failed.items()}
