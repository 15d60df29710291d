"""GetRecords pages reuse the memory of the pages dropped before them: a reader polling a busy
shard does not make the kernel map and zero fresh pages for every 10,000-record page (CPython
unmaps each emptied 1 MiB arena of small objects; the core keeps a few for the next page, see
ARENAS_KEPT in bindings/shard.pyx). Run in a fresh interpreter: what an earlier test left in
the process's arenas would change how many fresh pages a read needs."""
import subprocess
import sys
import textwrap

from tests.killing import ROOT

PAGE = 10_000
READS = 6
FAULTS_PER_PAGE_MAX = 64    # a page needs ~5 MB of Python objects: ~1,200 fresh 4 KiB pages if none are kept

PROBE = textwrap.dedent(f"""
    import gc, resource, statistics
    import engine
    eng = engine.Engine()
    kinesis = eng.client("kinesis")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    for first in range(0, 2 * {PAGE}, 500):
        kinesis.put_records(StreamName="s", Records=[{{"Data": b"%0100d" % i, "PartitionKey": "user-%012d" % i}}
                                                     for i in range(first, first + 500)])
    gc.collect()

    def page():
        it = kinesis.get_shard_iterator(StreamName="s", ShardId="shardId-000000000000",
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return len(kinesis.get_records(ShardIterator=it, Limit={PAGE})["Records"])

    assert page() == {PAGE}
    faults = []
    for _ in range({READS}):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        page()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(statistics.median(faults))
""")


def test_a_page_read_again_and_again_maps_no_fresh_memory():
    probe = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert float(probe.stdout) <= FAULTS_PER_PAGE_MAX
