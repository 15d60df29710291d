/* CRC-32C (Castagnoli, iSCSI / RFC 3720): the checksum of segment frames. SSE4.2's crc32
 * instruction where the CPU has it (checked once), slicing-by-8 tables otherwise. */
#ifndef EN_CRC32C_H
#define EN_CRC32C_H

#include "common.h"

/* Extend `crc` (0 to start) over n bytes: en_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t en_crc32c(uint32_t crc, const void *data, size_t n);

#endif
