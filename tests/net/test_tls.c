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
#include "tests/support/certs.h"

/* Certificates "good" and "evil" (tests/support/certs.h). */
static void tls_prepare(void)
{
    static const char *const tags[] = {"good", "evil"};
    test_certs_make(tags, 2);
}

/* A node with certificate <tag>, trusting the certificates in `ca`,
 * listening on `listen` (its bound URL in url). */
static tr_node *tls_node_at(tr_system *sys, const char *name, const char *tag, const char *ca,
                            const char *listen, char *url, size_t len)
{
    char cert[128], key[128];
    test_cert_path(cert, sizeof(cert), tag, "crt");
    test_cert_path(key, sizeof(key), tag, "key");
    tr_node_opts o = {.name = name, .cookie = "secret", .heartbeat_ms = 100, .down_after_ms = 20000,
                      .tls_cert_file = cert, .tls_key_file = key, .tls_ca_file = ca};
    tr_node *node = NULL;
    int rc = tr_node_start(sys, &o, &node);
    cr_assert_eq(rc, TR_OK, "tls node: %s", tr_strerror(rc));
    rc = tr_node_listen(node, listen, url, len);
    cr_assert_eq(rc, TR_OK, "tls listen on %s: %s", listen, tr_strerror(rc));
    cr_assert(strncmp(url, listen, strlen(listen) - 1) == 0, "%s", url);
    return node;
}

/* A node on 127.0.0.1 with certificate <tag>, trusting only that certificate. */
static tr_node *tls_node(tr_system *sys, const char *name, const char *tag, char *url, size_t len)
{
    char cert[128];
    test_cert_path(cert, sizeof(cert), tag, "crt");
    return tls_node_at(sys, name, tag, cert, "tls+tcp://127.0.0.1:0", url, len);
}

/* The end of a test of three nodes: stops them, the last started first,
 * then destroys their systems, and removes the test's certificates. */
static void tls_teardown(tr_node *a, tr_node *b, tr_node *c, tr_system *sa, tr_system *sb,
                         tr_system *sc)
{
    tr_node_stop(c);
    tr_node_stop(b);
    tr_node_stop(a);
    tr_system_destroy(sc);
    tr_system_destroy(sb);
    tr_system_destroy(sa);
    test_certs_remove();
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
    rc = tr_node_start(sd, &o, &bad);
    cr_assert_eq(rc, TR_ETLS, "unreadable certificate: %d %s", rc, tr_strerror(rc));
    tr_system_destroy(sd);

    tls_teardown(a, b, c, sa, sb, sc);
}

/* Each dial checks the certificate against the host it dials: a node that
 * dialled 127.0.0.1 first can still dial a peer whose certificate names
 * only 127.0.0.2, and a peer at 127.0.0.2 showing a (trusted) certificate
 * for 127.0.0.1 is refused. */
Test(tls, each_dial_checks_the_name_of_the_host_it_dials)
{
    test_cert_make_for("one", "127.0.0.1");
    test_cert_make_for("two", "127.0.0.2");
    char one[128], two[128], bundle[160], cmd[512];
    test_cert_path(one, sizeof(one), "one", "crt");
    test_cert_path(two, sizeof(two), "two", "crt");
    test_cert_path(bundle, sizeof(bundle), "both", "pem");
    snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > '%s'", one, two, bundle);
    cr_assert_eq(system(cmd), 0);
    latches_init();
    tr_system *sa = make_system(1), *sb = make_system(1), *sc = make_system(1);
    char ua[256], ub[256], uc[256];
    tr_node *a = tls_node_at(sa, "ha", "one", bundle, "tls+tcp://127.0.0.1:0", ua, sizeof(ua));
    tr_node *b = tls_node_at(sb, "hb", "one", bundle, "tls+tcp://127.0.0.1:0", ub, sizeof(ub));
    tr_node *c = tls_node_at(sc, "hc", "two", bundle, "tls+tcp://127.0.0.2:0", uc, sizeof(uc));
    int rc = tr_node_connect(a, ub, PROC_WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_OK, "a -> b (127.0.0.1): %s", tr_strerror(rc));
    rc = tr_node_connect(a, uc, PROC_WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_OK, "a -> c (127.0.0.2) after a -> b: %s", tr_strerror(rc));
    cr_assert(tr_node_peer_up(a, "hb") && tr_node_peer_up(a, "hc"));

    tr_system *sd = make_system(1);
    char ud[256];
    tr_node *d = tls_node_at(sd, "hd", "one", bundle, "tls+tcp://127.0.0.2:0", ud, sizeof(ud));
    rc = tr_node_connect(a, ud, PROC_WAIT_MS, NULL, 0);
    cr_assert_eq(rc, TR_EREFUSED, "a -> d (127.0.0.2 with 127.0.0.1's certificate): %d %s", rc,
                 tr_strerror(rc));
    cr_assert(!tr_node_peer_up(a, "hd"));
    tr_node_stop(d);
    tr_system_destroy(sd);

    tr_ref e, re;
    cr_assert_eq(tr_spawn(sc, &echo_b, NULL, NULL, &e), TR_OK);
    cr_assert_eq(tr_register(sc, "echo", e), TR_OK);
    LOOKUP(sa, "hc/echo", &re);
    echo_round_trip(sa, re);

    tls_teardown(a, b, c, sa, sb, sc);
}
