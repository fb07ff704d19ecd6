/* libFuzzer target for the process-group payload decoder (net/pg_wire.c):
 * the first byte picks the operation (JOIN, LEAVE, SYNC, DISCOVER or an
 * unknown one),
 * the rest is the payload. Any bytes must give TR_OK or TR_EPROTO, never a
 * crash, a hang or a huge allocation. Build and run: bash scripts/fuzz.sh;
 * the corpus is replayed by the fuzz_replay_pg ctest. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net/pg.h"
#include "troupe/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tr_pg_delta d;
    if (size == 0)
        return 0;
    int64_t op = (int64_t)(data[0] % 6) - 1; /* -1 .. 4 */
    if (tr_pg_decode(op, size > 1 ? data + 1 : NULL, size - 1, &d) == TR_OK) {
        uint64_t sum = strlen(d.group); /* touch what was decoded */
        for (uint32_t i = 0; i < d.count; i++)
            sum += d.ids[i];
        (void)sum;
    }
    return 0;
}
