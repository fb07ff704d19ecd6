/* Socket actors: the echo example's server under a plain TCP client (POSIX
 * sockets), framing, a frame too large, and bounded memory under a client
 * that stops reading (then reads: every byte comes back, in order);
 * tr_connect over ws://, ipc://, tls+tcp:// and wss://, certificates not
 * trusted, bad TLS settings, a refused dial.
 * Synchronised on the socket itself (what the client reads back) and on
 * latches; poll timeouts only decide when the client gives up writing. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "examples/echo/echo_server.h"
#include "io/framing.h"
#include "tests/support/certs.h"
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000

#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#ifdef TSAN_BUILD
/* One report, NNG's: after a refused (or cancelled) dial, NNG 1.5.2's
 * reaper thread may drop the dialer's last reference after we freed ours
 * and free it; correct, but the reference count is an atomic inside libnng,
 * which TSan does not instrument, so TSan sees the free race with our
 * teardown (see dialer_free_after_dial in io/conn.c: that function only
 * calls nng_stream_dialer_free, so no race of ours can have it on a
 * stack). Compiled into this binary only. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) { return "race:dialer_free_after_dial\n"; }
#endif

static int dial_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
    return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        cr_assert_gt(w, 0, "write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/* Reads exactly n bytes (or fails after WAIT_MS without progress). */
static void read_exactly(int fd, char *p, size_t n)
{
    while (n > 0) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&pf, 1, WAIT_MS), 1, "no data from the server");
        ssize_t r = read(fd, p, n);
        cr_assert_gt(r, 0, "read: %zd %s", r, strerror(errno));
        p += r;
        n -= (size_t)r;
    }
}

/* True once the server closed its side (read returns 0 or a reset). */
static bool server_hung_up(int fd)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, WAIT_MS) != 1)
        return false;
    char c;
    ssize_t r = read(fd, &c, 1);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

Test(socket, echo_server_answers_a_plain_tcp_client_line_by_line)
{
    tr_system *sys = make_system(2);
    tr_ref listener;
    int port = 0;
    cr_assert_eq(echo_listen(sys, "tcp://127.0.0.1:0", NULL, &listener, &port), TR_OK);
    cr_assert_gt(port, 0);
    int fd = dial_tcp(port);
    /* lines split across writes, and two in one write */
    write_all(fd, "hel", 3);
    write_all(fd, "lo\nwor", 6);
    write_all(fd, "ld\n\nlast line\n", 14);
    char buf[64] = {0};
    const char *want = "hello\nworld\n\nlast line\n";
    read_exactly(fd, buf, strlen(want));
    cr_assert_str_eq(buf, want);
    /* the client hangs up: the connection actor gets TR_MSG_SOCK_CLOSED and
     * ends, closing the server's side */
    shutdown(fd, SHUT_WR);
    cr_assert(server_hung_up(fd));
    close(fd);
    /* a second client on the same listener */
    fd = dial_tcp(port);
    write_all(fd, "again\n", 6);
    memset(buf, 0, sizeof(buf));
    read_exactly(fd, buf, 6);
    cr_assert_str_eq(buf, "again\n");
    close(fd);
    tr_system_destroy(sys);
}

/* The listener in a supervision tree: killed, it is restarted and binds
 * again; connections live under it. */
Test(socket, a_supervised_listener_is_restarted_and_binds_again)
{
    tr_system *sys = make_system(2);
    static tr_listener_config cfg = {.url = "tcp://127.0.0.1:0", .conn = &echo_line_behaviour,
                                     .sock = {.framing = TR_FRAMING_LINE}};
    tr_child_spec spec = {.id = "echo", .beh = &tr_listener_behaviour, .arg = &cfg};
    tr_sup_flags flags = {.strategy = TR_ONE_FOR_ONE, .intensity = 3, .period_ms = 60000};
    tr_ref sup, first, again;
    cr_assert_eq(tr_supervisor_start(sys, &flags, &spec, 1, NULL, &sup), TR_OK);
    cr_assert_eq(tr_supervisor_child(sys, sup, "echo", WAIT_MS, &first), TR_OK);
    int port = 0;
    cr_assert_eq(tr_listener_port(sys, first, WAIT_MS, &port), TR_OK);
    cr_assert_gt(port, 0);
    int fd = dial_tcp(port);
    write_all(fd, "a\n", 2);
    char buf[4] = {0};
    read_exactly(fd, buf, 2);
    cr_assert_str_eq(buf, "a\n");

    cr_assert_eq(tr_kill(sys, first), TR_OK); /* its connection goes with it */
    cr_assert(server_hung_up(fd));
    close(fd);
    for (int tries = 0;; tries++) { /* the supervisor restarts it under a new reference */
        cr_assert_lt(tries, 1000000, "the listener was not restarted");
        int rc = tr_supervisor_child(sys, sup, "echo", WAIT_MS, &again);
        if (rc == TR_OK && !tr_ref_equal(again, first))
            break;
    }
    cr_assert_eq(tr_listener_port(sys, again, WAIT_MS, &port), TR_OK);
    fd = dial_tcp(port);
    write_all(fd, "b\n", 2);
    memset(buf, 0, sizeof(buf));
    read_exactly(fd, buf, 2);
    cr_assert_str_eq(buf, "b\n");
    close(fd);
    tr_system_destroy(sys);
}

/* A connection actor may run on the blocking pool (a protocol handler that
 * calls a blocking client library), here with a one-message mailbox. */
Test(socket, connection_actors_can_be_blocking_actors_with_tiny_mailboxes)
{
    tr_system *sys = make_system(2);
    tr_listener_config cfg = {.url = "tcp://127.0.0.1:0", .conn = &echo_line_behaviour,
                              .sock = {.framing = TR_FRAMING_LINE},
                              .conn_opts = {.blocking = true, .mailbox_capacity = 1}};
    tr_ref l;
    int port = 0;
    cr_assert_eq(tr_listen(sys, &cfg, NULL, &l, &port), TR_OK);
    int fd = dial_tcp(port);
    const char *lines = "one\ntwo\nthree\n";
    for (int i = 0; i < 50; i++)
        write_all(fd, lines, strlen(lines));
    for (int i = 0; i < 50; i++) {
        char buf[32] = {0};
        read_exactly(fd, buf, strlen(lines));
        cr_assert_str_eq(buf, lines);
    }
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_geq(m.blocking_threads, 1, "its turns ran on the blocking pool");
    close(fd);
    tr_system_destroy(sys);
}

/* ---- a connection behaviour that records what happened ---- */

typedef struct probe {
    atomic_long bytes_in;
    atomic_long max_queued;
    atomic_int closed_reason;
    latch closed;
} probe;

static int probe_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(tr_sock **)state = arg;
    return TR_OK;
}

static int probe_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    tr_sock *s = *(tr_sock **)state;
    probe *p = tr_sock_arg(s);
    if (msg->type == TR_MSG_SOCK_DATA) {
        atomic_fetch_add(&p->bytes_in, (long)msg->size + 1);
        int rc = tr_sock_send(s, msg->data, msg->size);
        if (rc != TR_OK)
            return rc;
        long q = (long)tr_sock_queued(s);
        long m = atomic_load(&p->max_queued);
        while (q > m && !atomic_compare_exchange_weak(&p->max_queued, &m, q))
            ;
    } else if (msg->type == TR_MSG_SOCK_CLOSED) {
        atomic_store(&p->closed_reason, ((const tr_sock_closed *)msg->data)->reason);
        latch_add(&p->closed, 1);
    }
    return TR_OK;
}

static const tr_behaviour probe_behaviour = {
    .init = probe_init, .handle = probe_handle, .state_size = sizeof(tr_sock *)};

static int probe_listen(tr_system *sys, probe *p, const tr_sock_opts *o, tr_ref *l)
{
    atomic_store(&p->closed_reason, -1);
    latch_init(&p->closed);
    tr_listener_config cfg = {.url = "tcp://127.0.0.1:0", .conn = &probe_behaviour, .conn_arg = p,
                              .sock = *o};
    int port = 0;
    cr_assert_eq(tr_listen(sys, &cfg, NULL, l, &port), TR_OK);
    return port;
}

Test(socket, a_line_above_max_frame_closes_the_connection_unbuffered)
{
    tr_system *sys = make_system(2);
    probe p = {0};
    tr_sock_opts o = {.framing = TR_FRAMING_LINE, .max_frame = 100};
    tr_ref l;
    int fd = dial_tcp(probe_listen(sys, &p, &o, &l));
    char big[300];
    memset(big, 'x', sizeof(big)); /* no newline: a line that never ends */
    write_all(fd, "ok\n", 3);
    write_all(fd, big, sizeof(big));
    char buf[4] = {0};
    read_exactly(fd, buf, 3);
    cr_assert_str_eq(buf, "ok\n");
    cr_assert(latch_wait(&p.closed, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&p.closed_reason), TR_ETOOBIG);
    cr_assert(server_hung_up(fd));
    close(fd);
    tr_system_destroy(sys);
    latch_fini(&p.closed);
}

/* The client writes 64-byte lines and never reads, until it cannot write
 * for a while: the server stopped reading. Its write queue stayed within
 * write_high + one read's echoes. Then the client reads: every line comes
 * back, in order. */
Test(socket, a_client_that_stops_reading_meets_bounded_memory_and_loses_nothing)
{
    tr_system *sys = make_system(2);
    probe p = {0};
    tr_sock_opts o = {.framing = TR_FRAMING_LINE, .max_frame = 1024, .read_buffer = 4096,
                      .write_high = 64 * 1024};
    tr_ref l;
    int fd = dial_tcp(probe_listen(sys, &p, &o, &l));
    int small = 64 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    const size_t limit = 256u << 20; /* would all go through if the server kept reading */
    char line[64];
    memset(line, 'a', sizeof(line) - 1);
    line[63] = '\n';
    size_t written = 0, partial = 0;
    bool stalled = false;
    while (written < limit) {
        ssize_t w = write(fd, line + partial, sizeof(line) - partial);
        if (w > 0) {
            written += (size_t)w;
            partial = (partial + (size_t)w) % sizeof(line);
            continue;
        }
        cr_assert(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "write: %s", strerror(errno));
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, 2000) == 0) {
            stalled = true; /* two seconds without room: the server holds back */
            break;
        }
    }
    cr_assert(stalled, "the server kept reading %zu bytes from a client that never reads", written);
    long bound = 64 * 1024 + 4096 + 1024;
    cr_assert_leq(atomic_load(&p.max_queued), bound, "write queue %ld > %ld",
                  atomic_load(&p.max_queued), bound);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_gt(m.mutes, 0, "the connection actor was muted by its slow peer");

    /* read everything back (finishing a line cut in the middle) */
    size_t got = 0;
    char buf[8192];
    size_t at = 0; /* position within the current line */
    while (got < written || partial != 0) {
        struct pollfd pf = {.fd = fd, .events = POLLIN | (partial != 0 ? POLLOUT : 0)};
        cr_assert_eq(poll(&pf, 1, WAIT_MS), 1, "echo stopped at %zu of %zu bytes", got, written);
        if (partial != 0 && (pf.revents & POLLOUT)) {
            ssize_t w = write(fd, line + partial, sizeof(line) - partial);
            if (w > 0) {
                written += (size_t)w;
                partial = (partial + (size_t)w) % sizeof(line);
            }
        }
        if (!(pf.revents & POLLIN))
            continue;
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EAGAIN)
            continue;
        cr_assert_gt(r, 0);
        for (ssize_t i = 0; i < r; i++, at = (at + 1) % sizeof(line))
            cr_assert_eq(buf[i], line[at], "byte %zu", got + (size_t)i);
        got += (size_t)r;
    }
    cr_assert_eq(got, written);
    cr_assert_eq(atomic_load(&p.bytes_in), (long)written, "the server read every byte once");
    close(fd);
    tr_system_destroy(sys);
    latch_fini(&p.closed);
}

/* ---- tr_connect over ws:// and ipc:// to a tr_listen echo server ---- */

typedef struct dial_report {
    atomic_int echoed, bad, reason;
    latch closed;
} dial_report;

static int dialer_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(tr_sock **)state = arg;
    for (int i = 0; i < 3; i++) { /* queued until the dial completes */
        char line[8];
        int n = snprintf(line, sizeof(line), "l%d", i);
        int rc = tr_sock_send(arg, line, (size_t)n);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

static int dialer_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    tr_sock *s = *(tr_sock **)state;
    dial_report *r = tr_sock_arg(s);
    if (msg->type == TR_MSG_SOCK_DATA) {
        char want[8];
        int i = atomic_fetch_add(&r->echoed, 1);
        int n = snprintf(want, sizeof(want), "l%d", i);
        if (msg->size != (size_t)n || memcmp(msg->data, want, (size_t)n) != 0)
            atomic_fetch_add(&r->bad, 1);
        if (i == 2)
            tr_sock_close(s);
    } else if (msg->type == TR_MSG_SOCK_CLOSED) {
        atomic_store(&r->reason, ((const tr_sock_closed *)msg->data)->reason);
        latch_add(&r->closed, 1);
    }
    return TR_OK;
}

static const tr_behaviour dialer = {
    .init = dialer_init, .handle = dialer_handle, .state_size = sizeof(tr_sock *)};

/* Dials `url` with `tls` (may be NULL) and waits until the connection has
 * ended; returns how many lines came back and writes why it ended. */
static int dial_until_closed(tr_system *sys, const char *url, const tr_tls_opts *tls, int *reason)
{
    dial_report r = {0};
    latch_init(&r.closed);
    atomic_store(&r.reason, -1);
    tr_sock_opts o = {.framing = TR_FRAMING_LINE, .tls = tls};
    tr_ref c;
    int rc = tr_connect(sys, url, &dialer, &r, &o, NULL, &c);
    cr_assert_eq(rc, TR_OK, "%s: %s", url, tr_strerror(rc));
    cr_assert(latch_wait(&r.closed, 1, WAIT_MS), "%s: never closed", url);
    cr_assert_eq(atomic_load(&r.bad), 0);
    tr_await_exit(sys, c, WAIT_MS, NULL); /* r is read until its actor ends */
    latch_fini(&r.closed);
    *reason = atomic_load(&r.reason);
    return atomic_load(&r.echoed);
}

/* Dials `url` (an echo server) and checks three lines come back. */
static void dial_and_echo(tr_system *sys, const char *url, const tr_tls_opts *tls)
{
    int reason;
    cr_assert_eq(dial_until_closed(sys, url, tls, &reason), 3, "%s", url);
    cr_assert_eq(reason, TR_ESHUTDOWN, "%s: closed by tr_sock_close, not %s", url, tr_strerror(reason));
}

Test(socket, tr_connect_talks_to_tr_listen_over_websocket_and_ipc)
{
    tr_system *sys = make_system(2);
    tr_ref l;
    int port = 0;
    cr_assert_eq(echo_listen(sys, "ws://127.0.0.1:0/echo", NULL, &l, &port), TR_OK);
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/echo", port);
    dial_and_echo(sys, url, NULL);
    snprintf(url, sizeof(url), "ipc:///tmp/troupe-test-%d.ipc", (int)getpid());
    cr_assert_eq(echo_listen(sys, url, NULL, &l, &port), TR_OK);
    dial_and_echo(sys, url, NULL);
    tr_system_destroy(sys);
    unlink(url + strlen("ipc://"));
}

/* A dial to a TCP port where nothing listens (a socket bound to it but not
 * listening holds it) ends in TR_MSG_SOCK_CLOSED with TR_EREFUSED; what the
 * actor queued before is dropped. */
Test(socket, a_refused_dial_arrives_as_closed_with_TR_EREFUSED)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    tr_system *sys = make_system(2);
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    int reason;
    cr_assert_eq(dial_until_closed(sys, url, NULL, &reason), 0);
    cr_assert_eq(reason, TR_EREFUSED, "%s", tr_strerror(reason));
    tr_system_destroy(sys);
    close(fd);
}

/* ---- TLS: tls+tcp:// and wss:// (certificates: tests/support/certs.h) ---- */

typedef struct cert_files {
    char crt[128], key[128];
} cert_files;

static const char *const cert_tags[] = {"good", "evil"};

/* TLS settings showing `tag`'s certificate (NULL: none) and trusting
 * `ca_tag`'s (NULL: none); the paths live in *f. */
static tr_tls_opts tls_with(cert_files *f, const char *tag, cert_files *ca, const char *ca_tag)
{
    tr_tls_opts t = {0};
    if (tag != NULL) {
        t.cert_file = test_cert_path(f->crt, sizeof(f->crt), tag, "crt");
        t.key_file = test_cert_path(f->key, sizeof(f->key), tag, "key");
    }
    if (ca_tag != NULL)
        t.ca_file = test_cert_path(ca->crt, sizeof(ca->crt), ca_tag, "crt");
    return t;
}

/* An echo listener on `url` (port 0) with `tls`; writes the URL to dial. */
static void tls_echo_listen(tr_system *sys, const char *url, const char *path, const tr_tls_opts *tls,
                            const tr_behaviour *conn, void *conn_arg, char *dial, size_t len)
{
    tr_listener_config cfg = {.url = url, .conn = conn, .conn_arg = conn_arg,
                              .sock = {.framing = TR_FRAMING_LINE}, .tls = tls};
    tr_ref l;
    int port = 0;
    int rc = tr_listen(sys, &cfg, NULL, &l, &port);
    cr_assert_eq(rc, TR_OK, "%s: %s", url, tr_strerror(rc));
    cr_assert_gt(port, 0);
    snprintf(dial, len, "%.*s%d%s", (int)(strrchr(url, ':') + 1 - url), url, port, path);
}

Test(socket, echo_over_tls_and_secure_websocket_with_a_trusted_certificate)
{
    test_certs_make(cert_tags, 2);
    tr_system *sys = make_system(2);
    cert_files own, ca;
    tr_tls_opts server = tls_with(&own, "good", NULL, NULL);
    tr_tls_opts client = tls_with(NULL, NULL, &ca, "good");
    char url[96];
    tls_echo_listen(sys, "tls+tcp://127.0.0.1:0", "", &server, &echo_line_behaviour, NULL, url,
                    sizeof(url));
    dial_and_echo(sys, url, &client);
    tls_echo_listen(sys, "wss://127.0.0.1:0/echo", "/echo", &server, &echo_line_behaviour, NULL, url,
                    sizeof(url));
    dial_and_echo(sys, url, &client);
    tr_system_destroy(sys);
    test_certs_remove();
}

/* A client that does not trust the server's certificate, and a server
 * (mutual TLS) that does not trust the client's: the connection ends with
 * TR_ETLS on the side that refused, and no line goes through. */
Test(socket, a_certificate_not_trusted_ends_the_connection_with_TR_ETLS)
{
    test_certs_make(cert_tags, 2);
    tr_system *sys = make_system(2);
    cert_files srv, ca, cli, cca; /* each tr_tls_opts' paths */
    tr_tls_opts server = tls_with(&srv, "good", NULL, NULL);
    char url[96];
    tls_echo_listen(sys, "tls+tcp://127.0.0.1:0", "", &server, &echo_line_behaviour, NULL, url,
                    sizeof(url));
    tr_tls_opts wrong_ca = tls_with(NULL, NULL, &cca, "evil");
    int reason;
    cr_assert_eq(dial_until_closed(sys, url, &wrong_ca, &reason), 0);
    cr_assert_eq(reason, TR_ETLS, "the client refused the server: %s", tr_strerror(reason));

    probe p = {0};
    atomic_store(&p.closed_reason, -1);
    latch_init(&p.closed);
    tr_tls_opts mutual = tls_with(&srv, "good", &ca, "good");
    tls_echo_listen(sys, "tls+tcp://127.0.0.1:0", "", &mutual, &probe_behaviour, &p, url, sizeof(url));
    tr_tls_opts evil_client = tls_with(&cli, "evil", &cca, "good"); /* trusts the server */
    cr_assert_eq(dial_until_closed(sys, url, &evil_client, &reason), 0);
    cr_assert(latch_wait(&p.closed, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&p.closed_reason), TR_ETLS, "the server refused the client: %s",
                 tr_strerror(atomic_load(&p.closed_reason)));
    cr_assert_eq(atomic_load(&p.bytes_in), 0);
    tr_tls_opts good_client = tls_with(&cli, "good", &cca, "good");
    dial_and_echo(sys, url, &good_client); /* the probe echoes too */
    tr_system_destroy(sys);
    latch_fini(&p.closed);
    test_certs_remove();
}

Test(socket, bad_tls_settings_are_refused_with_clear_codes)
{
    test_certs_make(cert_tags, 1);
    tr_system *sys = make_system(1);
    cert_files own, ca;
    tr_tls_opts good = tls_with(&own, "good", &ca, "good");
    tr_listener_config cfg = {.url = "tls+tcp://127.0.0.1:0", .conn = &echo_line_behaviour};
    tr_ref l;
    cr_assert_eq(tr_listen(sys, &cfg, NULL, &l, NULL), TR_EINVAL, "a TLS URL without TLS settings");
    cfg.url = "tcp://127.0.0.1:0";
    cfg.tls = &good;
    cr_assert_eq(tr_listen(sys, &cfg, NULL, &l, NULL), TR_EINVAL, "TLS settings on plain TCP");
    cfg.url = "wss://127.0.0.1:0/x";
    cfg.sock.tls = &good;
    cr_assert_eq(tr_listen(sys, &cfg, NULL, &l, NULL), TR_EINVAL, "a listener's TLS goes in cfg.tls");
    cfg.sock.tls = NULL;
    tr_tls_opts missing = {.cert_file = "/nonexistent/troupe.crt"};
    cfg.tls = &missing;
    int rc = tr_listen(sys, &cfg, NULL, &l, NULL);
    cr_assert_eq(rc, TR_ETLS, "%s", tr_strerror(rc));
    cr_assert(strstr(tr_strerror(rc), "certificate") != NULL, "%s", tr_strerror(rc));
    char junk[128];
    test_cert_path(junk, sizeof(junk), "junk", "crt");
    FILE *f = fopen(junk, "w");
    cr_assert_not_null(f);
    fputs("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    tr_tls_opts garbage = {.cert_file = junk, .key_file = good.key_file};
    cfg.tls = &garbage;
    cr_assert_eq(tr_listen(sys, &cfg, NULL, &l, NULL), TR_ETLS, "not a certificate");
    garbage = (tr_tls_opts){.cert_file = good.cert_file, .key_file = junk};
    cr_assert_eq(tr_listen(sys, &cfg, NULL, &l, NULL), TR_ETLS, "not a key");

    tr_sock_opts o = {.framing = TR_FRAMING_LINE};
    tr_ref c;
    const char *url = "tls+tcp://127.0.0.1:1";
    cr_assert_eq(tr_connect(sys, url, &dialer, NULL, &o, NULL, &c), TR_EINVAL, "no TLS settings");
    tr_tls_opts no_ca = {.cert_file = good.cert_file, .key_file = good.key_file};
    o.tls = &no_ca;
    cr_assert_eq(tr_connect(sys, url, &dialer, NULL, &o, NULL, &c), TR_EINVAL, "the server unverified");
    tr_tls_opts bad_ca = {.ca_file = junk};
    o.tls = &bad_ca;
    cr_assert_eq(tr_connect(sys, url, &dialer, NULL, &o, NULL, &c), TR_ETLS, "a CA that is not one");
    o.tls = &good;
    cr_assert_eq(tr_connect(sys, "tcp://127.0.0.1:1", &dialer, NULL, &o, NULL, &c), TR_EINVAL,
                 "TLS settings on plain TCP");
    tr_system_destroy(sys);
    test_certs_remove();
}

/* ---- framing, directly ---- */

typedef struct frames {
    char got[8][64];
    size_t size[8];
    int n;
} frames;

static int collect(void *ctx, const void *frame, size_t size)
{
    frames *f = ctx;
    cr_assert_lt(f->n, 8);
    if (size > 0)
        memcpy(f->got[f->n], frame, size);
    f->size[f->n++] = size;
    return TR_OK;
}

Test(socket, length_prefixed_frames_split_anywhere_come_out_whole)
{
    unsigned char stream[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, 0, 0, 0, 2, 'x', 'y'};
    for (size_t cut = 0; cut <= sizeof(stream); cut++) {
        tr_framer fr;
        tr_framer_init(&fr, TR_FRAMING_LENGTH, 16);
        frames f = {.n = 0};
        cr_assert_eq(tr_framer_feed(&fr, stream, cut, collect, &f), TR_OK);
        cr_assert_eq(tr_framer_feed(&fr, stream + cut, sizeof(stream) - cut, collect, &f), TR_OK);
        cr_assert_eq(f.n, 3, "cut at %zu", cut);
        cr_assert(f.size[0] == 3 && memcmp(f.got[0], "abc", 3) == 0);
        cr_assert_eq(f.size[1], 0);
        cr_assert(f.size[2] == 2 && memcmp(f.got[2], "xy", 2) == 0);
        tr_framer_free(&fr);
    }
    tr_framer fr;
    tr_framer_init(&fr, TR_FRAMING_LENGTH, 16);
    unsigned char huge[] = {0, 0, 1, 0};
    frames f = {.n = 0};
    cr_assert_eq(tr_framer_feed(&fr, huge, 4, collect, &f), TR_ETOOBIG, "256 > max 16");
    tr_framer_free(&fr);
    size_t n;
    unsigned char *w = tr_framer_wrap(TR_FRAMING_LENGTH, "hi", 2, &n);
    cr_assert(n == 6 && memcmp(w, "\0\0\0\2hi", 6) == 0);
    free(w);
}
