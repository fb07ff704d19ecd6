/* Writes the fuzzer's seed corpus: valid frames of every kind. */
#include <stdio.h>
#include <string.h>

#include "net/envelope.h"
#include "troupe/errors.h"

static void write_frame(const char *dir, int n, const tr_envelope *envs, int count)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    tr_frame_header h = {.version = TR_WIRE_VERSION, .node = {"seed", 4}, .incarnation = 7,
                         .cookie_digest = tr_wire_digest("c"), .agent = 33, .dial_nonce = 5,
                         .nurls = 1, .urls = {{"tcp://*:7000", 12}}};
    tr_wire_pack_header(&pk, &h);
    size_t marker = sb.size;
    tr_wire_begin_envelopes(&pk);
    for (int i = 0; i < count; i++)
        tr_wire_pack_envelope(&pk, &envs[i]);
    tr_wire_patch_count(sb.data + marker, (uint32_t)count);
    char path[512];
    snprintf(path, sizeof(path), "%s/seed-%d", dir, n);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fwrite(sb.data, 1, sb.size, f);
        fclose(f);
    }
    msgpack_sbuffer_destroy(&sb);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    char bytes[64];
    memset(bytes, 'x', sizeof(bytes));
    tr_envelope all[] = {
        {.kind = TR_ENV_SEND, .dst = 1, .src = 2, .value = 300, .payload = bytes, .size = 64},
        {.kind = TR_ENV_FORCED, .dst = 1, .src = 2, .value = 1, .corr = 9, .payload = bytes, .size = 3},
        {.kind = TR_ENV_MONITOR, .dst = 4, .src = 5, .corr = 11},
        {.kind = TR_ENV_DEMONITOR, .dst = 4, .corr = 11},
        {.kind = TR_ENV_DOWN, .dst = 5, .src = 4, .value = -3, .corr = 11},
        {.kind = TR_ENV_REFUSE, .value = TR_EREFUSED},
        {.kind = TR_ENV_SEND, .dst_name = {"lobby", 5}, .value = 256},
    };
    write_frame(dir, 0, NULL, 0);
    for (int i = 0; i < 7; i++)
        write_frame(dir, i + 1, &all[i], 1);
    write_frame(dir, 8, all, 7);
    return 0;
}
