/* Test support: throwaway TLS certificates made with the openssl command
 * (scripts/deps.sh installs it), in a fresh temporary folder removed at
 * exit: self-signed EC certificates (for 127.0.0.1 unless a host is
 * given), each its own CA, as <folder>/<tag>.crt and <tag>.key. Skips the test (a failure under CI)
 * when NNG lacks the tls+tcp:// transport or openssl is missing.
 * Include after <criterion/criterion.h>. */
#ifndef TROUPE_TEST_CERTS_H
#define TROUPE_TEST_CERTS_H

#include <nng/nng.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/support/skip.h"

static char test_cert_dir[64];

/* Removes the folder (also run at exit). */
static void test_certs_remove(void)
{
    if (test_cert_dir[0] == '\0')
        return;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_cert_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", test_cert_dir);
    test_cert_dir[0] = '\0';
}

/* "<folder>/<tag>.<ext>" in buf. */
static const char *test_cert_path(char *buf, size_t len, const char *tag, const char *ext)
{
    snprintf(buf, len, "%s/%s.%s", test_cert_dir, tag, ext);
    return buf;
}

/* Makes the folder once; skips when TLS or openssl is unavailable. */
static void test_certs_dir(void)
{
    if (test_cert_dir[0] != '\0')
        return;
    nng_stream_listener *l;
    int rv = nng_stream_listener_alloc(&l, "tls+tcp://127.0.0.1:0");
    if (rv == NNG_ENOTSUP)
        tr_test_skip("NNG was built without the tls+tcp:// transport");
    cr_assert_eq(rv, 0, "tls+tcp listener: %s", nng_strerror(rv));
    nng_stream_listener_free(l);
    if (system("openssl version >/dev/null 2>&1") != 0)
        tr_test_skip("the openssl command is not installed: cannot make a throwaway certificate");
    snprintf(test_cert_dir, sizeof(test_cert_dir), "/tmp/troupe-tls-XXXXXX");
    cr_assert_not_null(mkdtemp(test_cert_dir));
    atexit(test_certs_remove);
}

/* Makes <tag>.crt and <tag>.key for `host` (an IPv4 address, named as a DNS
 * name too: mbedTLS checks server names against DNS names only). */
static void test_cert_make_for(const char *tag, const char *host)
{
    test_certs_dir();
    char key[128], crt[128], cmd[640];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
             "-subj /CN=%s -addext subjectAltName=DNS:%s,IP:%s "
             "-keyout '%s' -out '%s' >/dev/null 2>&1",
             host, host, host, test_cert_path(key, sizeof(key), tag, "key"),
             test_cert_path(crt, sizeof(crt), tag, "crt"));
    cr_assert_eq(system(cmd), 0, "openssl could not make a certificate");
}

/* Makes the folder and a certificate for 127.0.0.1 for each of tags[0..n). */
static void test_certs_make(const char *const *tags, int n)
{
    for (int i = 0; i < n; i++)
        test_cert_make_for(tags[i], "127.0.0.1");
}

#endif
