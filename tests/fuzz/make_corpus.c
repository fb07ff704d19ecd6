/* Writes the fuzzers' seed corpora: valid data frames of every kind into
 * <dir>/frame, valid handshake messages of every kind into <dir>/handshake,
 * valid process-group payloads (operation byte first) into <dir>/pg.
 * Usage: make_corpus <dir> (the folders must exist). */
#include <stdio.h>
#include <string.h>

#include "net/envelope.h"
#include "net/handshake_msg.h"
#include "net/pg.h"
#include "troupe/errors.h"

static void write_file(const char *dir, const char *kind, int n, const void *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/seed-%d", dir, kind, n);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fwrite(data, 1, size, f);
        fclose(f);
    }
}

static void write_frame(const char *dir, int n, const tr_envelope *envs, int count)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    tr_wire_begin_envelopes(&pk);
    for (int i = 0; i < count; i++)
        tr_wire_pack_envelope(&pk, &envs[i]);
    tr_wire_patch_count(sb.data, (uint32_t)count);
    write_file(dir, "frame", n, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void write_hs(const char *dir, int n, const tr_hs_msg *m)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    tr_hs_pack(&pk, m);
    write_file(dir, "handshake", n, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* A pg fuzz input: the operation's byte (fuzz_pg.c: op + 1), then the payload. */
static void write_pg(const char *dir, int n, int op, const char *group, int reason, const uint64_t *ids,
                     uint32_t count)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char opbyte = (char)(op + 1);
    msgpack_sbuffer_write(&sb, &opbyte, 1);
    if (op == TR_PG_JOIN || op == TR_PG_LEAVE)
        tr_pg_pack(&pk, group, reason, ids, count);
    write_file(dir, "pg", n, sb.data, sb.size);
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
        {.kind = TR_ENV_RESET, .corr = 2},
        {.kind = TR_ENV_RESET_ACK, .corr = 2},
        {.kind = TR_ENV_SEND, .dst_name = {"lobby", 5}, .value = 256},
    };
    enum { KINDS = sizeof(all) / sizeof(all[0]) };
    write_frame(dir, 0, NULL, 0);
    for (int i = 0; i < KINDS; i++)
        write_frame(dir, i + 1, &all[i], 1);
    write_frame(dir, KINDS + 1, all, KINDS);

    tr_hs_msg hs[] = {
        {.kind = TR_HS_HELLO, .version = TR_WIRE_VERSION, .name = {"seed@host", 9}, .incarnation = 7},
        {.kind = TR_HS_CHALLENGE, .version = TR_WIRE_VERSION, .name = {"n1", 2}, .incarnation = 8, .caps = 1},
        {.kind = TR_HS_PROOF, .agent = 33},
        {.kind = TR_HS_ACCEPT, .agent = 34},
        {.kind = TR_HS_REFUSE, .reason = TR_EREFUSED},
        {.kind = TR_HS_REFUSE, .reason = -1},
    };
    for (int i = 0; i < (int)(sizeof(hs) / sizeof(hs[0])); i++) {
        memset(hs[i].challenge, i, sizeof(hs[i].challenge));
        memset(hs[i].mac, 0x40 + i, sizeof(hs[i].mac));
        write_hs(dir, i, &hs[i]);
    }

    uint64_t ids[] = {1, 2, 3, (1ull << 52) - 1};
    write_pg(dir, 0, TR_PG_JOIN, "room:#lobby", 0, ids, 4);
    write_pg(dir, 1, TR_PG_LEAVE, "g", TR_ENODEDOWN, ids, 1);
    write_pg(dir, 2, TR_PG_LEAVE, "g", -7, ids + 2, 2);
    write_pg(dir, 3, TR_PG_SYNC, NULL, 0, NULL, 0);
    write_pg(dir, 4, TR_PG_DISCOVER, NULL, 0, NULL, 0);
    return 0;
}
