/* The observer facing clients that do not behave: wrong methods, bytes
 * that are not HTTP, oversized requests, clients that leave before the
 * answer, requests racing tr_observe_stop; and addresses it cannot serve.
 * Each time the server answers with an error status or closes that one
 * connection, and goes on serving everyone else. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tests/observe/http_get.h"
#include "tests/support/latch.h"
#include "tests/support/system.h"
#include "troupe/troupe.h"

static tr_observer *observe(tr_system *sys, char *url, size_t len)
{
    tr_observer *obs = NULL;
    cr_assert_eq(tr_observe_start(sys, NULL, "http://127.0.0.1:0", &obs), TR_OK);
    cr_assert_eq(tr_observe_url(obs, url, len), TR_OK);
    return obs;
}

/* The server still answers a plain GET, and this many scrapes so far. */
static void still_serves(const char *url, uint64_t scrapes)
{
    http_reply r = http_get(url, "/metrics");
    cr_assert_eq(r.err, 0, "%s", strerror(r.err));
    cr_assert_eq(r.status, 200);
    cr_assert_eq(prom_value(r.body, "troupe_observe_scrapes_total"), scrapes);
    http_reply_free(&r);
}

static http_reply send_raw(const char *url, const char *request)
{
    return http_exchange(url, request, strlen(request));
}

Test(observe_http, wrong_methods_and_bad_requests)
{
    tr_system *sys = make_system(1);
    char url[128];
    tr_observer *obs = observe(sys, url, sizeof(url));

    http_reply post = send_raw(url, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                    "Connection: close\r\n\r\nabc");
    cr_assert_eq(post.err, 0);
    cr_assert_eq(post.status, 405, "POST: %u", post.status);
    http_reply del = send_raw(url, "DELETE /api/actors HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    cr_assert_eq(del.status, 405, "DELETE: %u", del.status);
    http_reply missing = http_get(url, "/api/nothing");
    cr_assert_eq(missing.status, 404);

    /* Not HTTP at all, a bad version, a request line without a path: an
     * error status, or that connection closed; never a 200. */
    static const char *const garbage[] = {
        "HELLO\r\n\r\n",
        "GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET\r\n\r\n",
        "\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03\r\n\r\n", /* like a TLS hello */
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        http_reply g = send_raw(url, garbage[i]);
        cr_assert(g.err != 0 || g.status >= 400, "request %zu answered %u", i, g.status);
        http_reply_free(&g);
    }

    /* A request line far longer than any route: refused, not buffered forever. */
    size_t n = 64 * 1024;
    char *big = malloc(n + 64);
    cr_assert_not_null(big);
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', n);
    strcpy(big + 5 + n, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    http_reply huge = http_exchange(url, big, strlen(big));
    cr_assert(huge.err != 0 || huge.status >= 400, "a 64 KiB path answered %u", huge.status);
    free(big);

    still_serves(url, 1);
    http_reply_free(&post);
    http_reply_free(&del);
    http_reply_free(&missing);
    http_reply_free(&huge);
    tr_observe_stop(obs);
    tr_system_destroy(sys);
}

Test(observe_http, clients_that_leave_early)
{
    tr_system *sys = make_system(1);
    char url[128];
    tr_observer *obs = observe(sys, url, sizeof(url));
    static const char full[] = "GET /api/actors HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 30; i++) {
        int fd = http_connect(url);
        cr_assert_geq(fd, 0, "connect: %s", strerror(errno));
        switch (i % 3) {
        case 0: break;                                             /* says nothing */
        case 1: (void)send(fd, "GET /metr", 9, MSG_NOSIGNAL); break; /* half a request */
        case 2: (void)send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL); break; /* no reading */
        }
        close(fd);
    }
    /* A client that closes its side after a full request still gets it. */
    int fd = http_connect(url);
    cr_assert_geq(fd, 0);
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    cr_assert_eq(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(req) - 1));
    shutdown(fd, SHUT_WR);
    char buf[64] = {0};
    ssize_t got = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
    close(fd);
    cr_assert_gt(got, 12);
    cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);

    still_serves(url, 2);
    tr_observe_stop(obs);
    tr_system_destroy(sys);
}

Test(observe_http, addresses_it_cannot_serve)
{
    tr_system *sys = make_system(1);
    char url[128];
    tr_observer *obs = observe(sys, url, sizeof(url));
    tr_observer *second = NULL;
    /* One server per address: the routes of the first are taken. */
    cr_assert_eq(tr_observe_start(sys, NULL, url, &second), TR_EADDR);
    cr_assert_null(second);
    still_serves(url, 1);
    tr_observe_stop(obs);

    /* A port another program listens on. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 1), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char busy[64];
    snprintf(busy, sizeof(busy), "http://127.0.0.1:%u", ntohs(sa.sin_port));
    cr_assert_eq(tr_observe_start(sys, NULL, busy, &second), TR_EADDR);
    cr_assert_null(second);
    close(fd);

    /* Not an address of this machine; not a port; other schemes. */
    cr_assert_eq(tr_observe_start(sys, NULL, "http://192.0.2.1:0", &second), TR_EADDR);
    cr_assert_eq(tr_observe_start(sys, NULL, "http://127.0.0.1:notaport", &second), TR_EADDR);
    cr_assert_eq(tr_observe_start(sys, NULL, "https://127.0.0.1:0", &second), TR_EADDR);
    cr_assert_eq(tr_observe_start(sys, NULL, "", &second), TR_EADDR);
    cr_assert_null(second);

    /* IPv6 loopback when the machine has it: the URL shows it in brackets. */
    if (tr_observe_start(sys, NULL, "http://[::1]:0", &second) == TR_OK) {
        char v6[128];
        cr_assert_eq(tr_observe_url(second, v6, sizeof(v6)), TR_OK);
        cr_assert(strncmp(v6, "http://[::1]:", 13) == 0 && atoi(v6 + 13) > 0, "%s", v6);
        tr_observe_stop(second);
    }
    tr_system_destroy(sys);
}

/* ---- stopping while clients keep asking ---- */

typedef struct client {
    const char *url;
    latch *answered;   /* one count per client at its first 200 */
    _Atomic bool *stopping; /* set before tr_observe_stop is called */
    _Atomic int bad;   /* answers other than 200 and 503 (and 404 once stopping) */
    _Atomic int ok;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    bool counted = false;
    for (;;) {
        http_reply r = http_get(c->url, (atomic_load(&c->ok) % 2) ? "/api/actors" : "/metrics");
        if (r.err != 0) { /* the server is gone */
            http_reply_free(&r);
            break;
        }
        if (r.status == 200) {
            atomic_fetch_add(&c->ok, 1);
            if (!counted)
                latch_add(c->answered, 1);
            counted = true;
        } else if (r.status != 503 && !(r.status == 404 && atomic_load(c->stopping))) {
            atomic_fetch_add(&c->bad, 1); /* 404: the routes went before the server closed */
        }
        http_reply_free(&r);
    }
    if (!counted)
        latch_add(c->answered, 1); /* never served: the test fails on ok == 0 */
    return NULL;
}

Test(observe_http, stop_while_clients_keep_asking)
{
    tr_system *sys = make_system(2);
    char url[128];
    tr_observer *obs = observe(sys, url, sizeof(url));
    latch answered;
    latch_init(&answered);
    _Atomic bool stopping = false;
    enum { CLIENTS = 3 };
    client c[CLIENTS];
    pthread_t t[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = (client){.url = url, .answered = &answered, .stopping = &stopping};
        cr_assert_eq(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
    }
    cr_assert(latch_wait(&answered, CLIENTS, 10000));
    atomic_store(&stopping, true);
    tr_observe_stop(obs); /* returns once no request is being rendered */
    tr_system_destroy(sys);
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        cr_assert_gt(atomic_load(&c[i].ok), 0, "client %d was never served", i);
        cr_assert_eq(atomic_load(&c[i].bad), 0, "client %d got another status", i);
    }
    latch_fini(&answered);
}
