/* libFuzzer target for the handshake message decoder
 * (net/handshake_msg.c): any bytes give TR_OK or TR_EPROTO, a name that
 * parses is always valid, and proofs over whatever parsed compute without
 * a crash. Build and run: bash scripts/fuzz.sh [seconds]. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "net/handshake_msg.h"
#include "troupe/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tr_hs_msg m;
    int rc = tr_hs_parse(data, size, &m);
    if (rc != TR_OK && rc != TR_EPROTO)
        abort();
    if (rc != TR_OK)
        return 0;
    if ((m.kind == TR_HS_HELLO || m.kind == TR_HS_CHALLENGE) && !tr_node_name_valid(m.name.ptr, m.name.len))
        abort();
    uint8_t other[TR_HS_CHALLENGE_BYTES] = {0}, mac[TR_HS_MAC_BYTES];
    tr_hs_transcript t = {m.challenge, other, m.name, {"x", 1}, m.incarnation, 1};
    if (m.kind == TR_HS_HELLO && tr_hs_mac("cookie", 6, true, &t, m.agent, mac) != TR_OK)
        abort();
    return 0;
}
