/* libFuzzer target for the data frame decoder (net/envelope.c): any bytes
 * must give TR_OK or TR_EPROTO, never a crash, a hang or a huge
 * allocation. Build and run: bash scripts/fuzz.sh [seconds]; the corpus is
 * replayed by the fuzz_replay ctest. */
#include <stddef.h>
#include <stdint.h>

#include "net/envelope.h"
#include "troupe/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tr_frame_reader r;
    tr_frame_reader_init(&r);
    if (tr_frame_open(&r, data, size) == TR_OK) {
        tr_envelope e;
        uint64_t sum = 0;
        while (tr_frame_next(&r, &e) == TR_OK) {
            const uint8_t *p = e.payload; /* touch every payload byte */
            for (uint32_t i = 0; i < e.size; i++)
                sum += p[i];
            for (uint32_t i = 0; i < e.dst_name.len; i++)
                sum += (uint8_t)e.dst_name.ptr[i];
        }
        (void)sum;
    }
    tr_frame_reader_destroy(&r);
    return 0;
}
