"""Pure-Python baselines: the same work done the obvious way, measured in the same run."""
import bisect
import hashlib
import time

HASH_MAX = 2**128 - 1


class PythonStream:
    """A Kinesis put path in plain Python: hashlib.md5, bisect over range starts, list appends."""

    def __init__(self, shard_count: int):
        step = (HASH_MAX + 1) // shard_count
        self.starts = [i * step for i in range(shard_count)]
        self.shards = [[] for _ in range(shard_count)]
        self.seq = 0

    def put_records(self, records):
        out = []
        now = int(time.time() * 1000)
        for r in records:
            h = int.from_bytes(hashlib.md5(r["PartitionKey"].encode()).digest(), "big")
            i = bisect.bisect_right(self.starts, h) - 1
            self.seq += 1
            self.shards[i].append((self.seq, now, r["PartitionKey"], r["Data"]))
            out.append({"SequenceNumber": str(self.seq), "ShardId": f"shardId-{i:012d}"})
        return {"FailedRecordCount": 0, "Records": out}

    def read(self, shard: int, start: int, limit: int):
        return self.shards[shard][start:start + limit]

