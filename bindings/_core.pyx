"""engine._core: the native core (private; engine.kinesis and friends wrap it).

One extension module built from several included files (as uvloop and pyarrow do), so the
parts call each other directly. Knows nothing of AWS: keys, hashes, ranges, shards, records.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc

from includes.common cimport EN_ENOMEM, EN_EINVAL, EN_ERANGE, EN_ETOOBIG, EN_OK, en_binary_view, en_status
from includes cimport hashkey as c_hashkey
from includes cimport md5 as c_md5
from includes cimport shard as c_shard

import numpy as np
import pyarrow as pa

include "errors.pyx"
include "buffers.pyx"
include "router.pyx"
include "shard.pyx"
include "queue.pyx"
include "rows.pyx"
include "jsoncols.pyx"
include "lines.pyx"
include "groupkeys.pyx"
include "segment.pyx"
