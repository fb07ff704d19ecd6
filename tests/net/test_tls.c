/* Nodes over tls+tcp://127.0.0.1 with throwaway certificates the test makes
 * with the openssl CLI: a message and an ask go through between two nodes
 * that trust the same certificate; a node whose certificate they do not
 * trust is refused cleanly (an error code in bounded time, nothing up, the
 * trusted pair unaffected). Skipped with a reason when NNG lacks tls+tcp
 * or openssl is missing. */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/net/procs.h"
#include "tests/support/skip.h"

static char dir[64];

static void rm_dir(void)
{
    if (dir[0] == '\0')
        return;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    dir[0] = '\0';
}

/* Makes a self-signed EC certificate for 127.0.0.1 (its own CA) as
 * <dir>/<tag>.crt and <tag>.key. False when openssl fails. */
static bool make_cert(const char *tag)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=DNS:127.0.0.1,IP:127.0.0.1 "
             "-keyout '%s/%s.key' -out '%s/%s.crt' >/dev/null 2>&1",
             dir, tag, dir, tag);
    return system(cmd) == 0;
}

/* Skips the test unless NNG has tls+tcp:// and openssl works; then makes
 * certificates "good" and "evil" in a fresh temporary folder. */
static void tls_prepare(void)
{
    nng_socket s;
    nng_listener l;
    cr_assert_eq(nng_pull0_open(&s), 0);
    int rv = nng_listener_create(&l, s, "tls+tcp://127.0.0.1:0");
    nng_close(s);
    if (rv == NNG_ENOTSUP)
        tr_test_skip("NNG was built without the tls+tcp:// transport");
    cr_assert_eq(rv, 0, "tls+tcp listener: %s", nng_strerror(rv));
    if (system("openssl version >/dev/null 2>&1") != 0)
        tr_test_skip("the openssl command is not installed: cannot make a throwaway certificate");
    snprintf(dir, sizeof(dir), "/tmp/troupe-tls-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    atexit(rm_dir);
    cr_assert(make_cert("good"), "openssl could not make a certificate");
    cr_assert(make_cert("evil"));
}

static tr_node *tls_node(tr_system *sys, const char *name, const char *tag, char *url, size_t len)
{
    char cert[128], key[128];
    snprintf(cert, sizeof(cert), "%s/%s.crt", dir, tag);
    snprintf(key, sizeof(key), "%s/%s.key", dir, tag);
    tr_node_opts o = {.name = name, .cookie = "secret", .heartbeat_ms = 100, .down_after_ms = 20000,
                      .tls_cert_file = cert, .tls_key_file = key, .tls_ca_file = cert};
    tr_node *node = NULL;
    int rc = tr_node_start(sys, &o, &node);
    cr_assert_eq(rc, TR_OK, "tls node: %s", tr_strerror(rc));
    rc = tr_node_listen(node, "tls+tcp://127.0.0.1:0", url, len);
    cr_assert_eq(rc, TR_OK, "tls listen: %s", tr_strerror(rc));
    cr_assert(strncmp(url, "tls+tcp://127.0.0.1:", 20) == 0, "%s", url);
    return node;
}

static const tr_behaviour echo_b = {.handle = proto_echo_handle};

Test(tls, message_and_ask_over_tls_and_an_untrusted_node_is_refused)
{
    tls_prepare();
    latches_init();
    tr_system *sa = make_system(2), *sb = make_system(2), *sc = make_system(1);
    char ua[256], ub[256], uc[256];
    tr_node *a = tls_node(sa, "ta", "good", ua, sizeof(ua));
    tr_node *b = tls_node(sb, "tb", "good", ub, sizeof(ub));
    int rc = tr_node_connect(a, ub, PROC_WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_OK, "tls connect: %s", tr_strerror(rc));

    tr_ref e, re, pg;
    cr_assert_eq(tr_spawn(sb, &echo_b, NULL, NULL, &e), TR_OK);
    cr_assert_eq(tr_register(sb, "echo", e), TR_OK);
    LOOKUP(sa, "tb/echo", &re);
    cr_assert_eq(tr_spawn(sa, &pinger, NULL, NULL, &pg), TR_OK);
    cr_assert_eq(tr_post(sa, pg, MSG_GO, &re, sizeof(re), -1), TR_OK);
    cr_assert(latch_wait(&pongs, 1, PROC_WAIT_MS), "a message went there and back");
    echo_round_trip(sa, re);

    /* a node with a certificate nobody trusts (and trusting only itself) */
    tr_node *c = tls_node(sc, "tc", "evil", uc, sizeof(uc));
    rc = tr_node_connect(c, ua, PROC_WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_EREFUSED, "untrusted connect: %d %s", rc, tr_strerror(rc));
    rc = tr_node_connect(a, uc, PROC_WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_EREFUSED, "connect to untrusted: %d %s", rc, tr_strerror(rc));
    cr_assert(!tr_node_peer_up(a, "tc"));
    cr_assert(!tr_node_peer_up(c, "ta"));
    tr_node_stats st;
    tr_node_stats_get(c, &st);
    cr_assert_eq(st.peers_up, 0);
    cr_assert_eq(st.envelopes_in, 0);
    tr_node_stats_get(a, &st);
    cr_assert_eq(st.peers_up, 1, "only the trusted peer");
    cr_assert_eq(st.bad_frames, 0);
    echo_round_trip(sa, re); /* the trusted pair still works */

    /* TLS URLs without TLS settings, and unreadable certificates: errors */
    tr_system *sd = make_system(1);
    tr_node *d = NULL;
    tr_node_opts o = {.name = "td", .cookie = "secret"};
    cr_assert_eq(tr_node_start(sd, &o, &d), TR_OK);
    cr_assert_eq(tr_node_listen(d, "tls+tcp://127.0.0.1:0", NULL, 0), TR_EADDR);
    char plain[128];
    cr_assert_eq(tr_node_listen(d, "tcp://127.0.0.1:0", plain, sizeof(plain)), TR_OK);
    cr_assert_eq(tr_node_connect(d, ua, 1000, NULL, 0), TR_EADDR);
    tr_node_stop(d);
    tr_node *bad = NULL;
    o.tls_cert_file = "/nonexistent/troupe.crt";
    cr_assert_eq(tr_node_start(sd, &o, &bad), TR_EINVAL);
    tr_system_destroy(sd);

    tr_node_stop(c);
    tr_node_stop(b);
    tr_node_stop(a);
    tr_system_destroy(sc);
    tr_system_destroy(sb);
    tr_system_destroy(sa);
    rm_dir();
}
