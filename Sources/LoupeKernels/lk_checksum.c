// CRC-32C (Castagnoli), the checksum of index file sections: the SSE4.2 instruction eight bytes at
// a time where the CPU has it, else a bitwise loop (same values).
#include "lk_internal.h"

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
    }
    uint32_t c32 = (uint32_t)c;
    for (; n > 0; n--, p++) c32 = _mm_crc32_u8(c32, *p);
    return c32;
}

static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return crc;
}

uint32_t lk_crc32c(uint32_t crc, const uint8_t *data, size_t n) {
    crc = ~crc;
    crc = __builtin_cpu_supports("sse4.2") && lk_simd_level() >= 1 ? crc32c_sse42(crc, data, n) : crc32c_bitwise(crc, data, n);
    return ~crc;
}
