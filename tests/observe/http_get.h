/* Test support for the observer: one blocking HTTP request (a GET, or any
 * bytes), and reading one sample out of a Prometheus text page.
 * Include after <criterion/criterion.h>. */
#ifndef TROUPE_TEST_HTTP_GET_H
#define TROUPE_TEST_HTTP_GET_H

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A response: status, Content-Type and the body (NUL-terminated, owned). */
typedef struct http_reply {
    int err; /* 0, or the errno that kept the request from completing */
    uint16_t status;
    char content_type[128];
    char *body;
    size_t len;
} http_reply;

/* Connects a TCP socket to base_url ("http://127.0.0.1:PORT") with a 10 s
 * receive timeout; -1 with errno set on failure. */
static inline int http_connect(const char *base_url)
{
    unsigned port = 0;
    char host[64];
    if (sscanf(base_url, "http://%63[^:]:%u", host, &port) != 2) {
        errno = EINVAL;
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno != 0 ? errno : EINVAL;
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Sends the `n` bytes of `request` as they are (any bytes: a test of bad
 * requests) to base_url and reads the reply until the server closes or
 * Content-Length bytes of body came. A plain socket rather than NNG's own
 * client, so the test does not exercise the server with its own code.
 * Gives up after 10 s without data. */
static inline http_reply http_exchange(const char *base_url, const char *request, size_t n)
{
    http_reply r = {0};
    int fd = http_connect(base_url);
    if (fd < 0) {
        r.err = errno;
        return r;
    }
    if (send(fd, request, n, MSG_NOSIGNAL) != (ssize_t)n) {
        r.err = errno;
        close(fd);
        return r;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    cr_assert_not_null(buf);
    char *body = NULL;
    size_t want = SIZE_MAX; /* total bytes once the headers are known */
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            cr_assert_not_null(buf);
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0) {
            r.err = errno;
            break;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        buf[len] = '\0';
        if (body == NULL && (body = strstr(buf, "\r\n\r\n")) != NULL) {
            body += 4;
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl != NULL && cl < body)
                want = (size_t)(body - buf) + strtoull(cl + 17, NULL, 10);
        }
        if (len >= want)
            break;
    }
    close(fd);
    buf[len] = '\0';
    if (r.err == 0 && (body == NULL || sscanf(buf, "HTTP/1.%*c %hu", &r.status) != 1))
        r.err = EPROTO;
    if (r.err == 0) {
        const char *ct = strcasestr(buf, "\r\nContent-Type:");
        if (ct != NULL && ct < body) {
            ct += 15;
            while (*ct == ' ')
                ct++;
            size_t k = strcspn(ct, "\r");
            snprintf(r.content_type, sizeof(r.content_type), "%.*s", (int)k, ct);
        }
        r.len = len - (size_t)(body - buf);
        r.body = malloc(r.len + 1);
        cr_assert_not_null(r.body);
        memcpy(r.body, body, r.len + 1);
    }
    free(buf);
    return r;
}

/* GET base_url + path, HTTP/1.1 with "Connection: close". */
static inline http_reply http_get(const char *base_url, const char *path)
{
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
                     base_url + 7);
    cr_assert(n > 0 && (size_t)n < sizeof(req), "path too long for http_get");
    return http_exchange(base_url, req, (size_t)n);
}

static inline void http_reply_free(http_reply *r)
{
    free(r->body);
    r->body = NULL;
}

/* The value of the sample whose name and labels are exactly `series`
 * (e.g. "troupe_actors_alive" or "troupe_dead_letters_total{reason=\"dead\"}");
 * fails the test when the page has no such line. */
static inline uint64_t prom_value(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = page; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtoull(line + n + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    cr_assert(false, "no sample %s in the page:\n%s", series, page);
    return 0;
}

#endif
