/* Test support for the observer: one blocking HTTP GET through NNG's own
 * HTTP client, and reading one sample out of a Prometheus text page.
 * Include after <criterion/criterion.h>. */
#ifndef TROUPE_TEST_HTTP_GET_H
#define TROUPE_TEST_HTTP_GET_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

/* A response: status, Content-Type and the body (NUL-terminated, owned). */
typedef struct http_reply {
    int nng_rc; /* 0, or the NNG error that kept the request from completing */
    uint16_t status;
    char content_type[128];
    char *body;
    size_t len;
} http_reply;

/* GET base_url + path; waits at most 10 s. */
static inline http_reply http_get(const char *base_url, const char *path)
{
    http_reply r = {0};
    char full[512];
    snprintf(full, sizeof(full), "%s%s", base_url, path);
    nng_url *url = NULL;
    nng_http_client *client = NULL;
    nng_http_req *req = NULL;
    nng_http_res *res = NULL;
    nng_aio *aio = NULL;
    if ((r.nng_rc = nng_url_parse(&url, full)) != 0 ||
        (r.nng_rc = nng_http_client_alloc(&client, url)) != 0 ||
        (r.nng_rc = nng_http_req_alloc(&req, url)) != 0 ||
        (r.nng_rc = nng_http_res_alloc(&res)) != 0 ||
        (r.nng_rc = nng_aio_alloc(&aio, NULL, NULL)) != 0)
        goto out;
    nng_aio_set_timeout(aio, 10000);
    nng_http_client_transact(client, req, res, aio);
    nng_aio_wait(aio);
    if ((r.nng_rc = nng_aio_result(aio)) != 0)
        goto out;
    r.status = nng_http_res_get_status(res);
    const char *ct = nng_http_res_get_header(res, "Content-Type");
    snprintf(r.content_type, sizeof(r.content_type), "%s", ct != NULL ? ct : "");
    void *data = NULL;
    nng_http_res_get_data(res, &data, &r.len);
    r.body = malloc(r.len + 1);
    cr_assert_not_null(r.body);
    memcpy(r.body, data, r.len);
    r.body[r.len] = '\0';
out:
    if (aio != NULL)
        nng_aio_free(aio);
    if (res != NULL)
        nng_http_res_free(res);
    if (req != NULL)
        nng_http_req_free(req);
    if (client != NULL)
        nng_http_client_free(client);
    if (url != NULL)
        nng_url_free(url);
    return r;
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
