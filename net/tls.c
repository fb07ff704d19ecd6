/* TLS for tls+tcp:// URLs: one NNG configuration for listeners (server
 * side) and one for dialers (client side), each with this node's
 * certificate and, when given, the CA peers' certificates must chain to
 * (then required: mutual TLS). The handshake of docs/wire.md runs inside
 * the TLS stream, so a tls+tcp:// peer also needs the cookie. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/node_impl.h"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 0 && size < (1l << 20) && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1)) != NULL) {
        if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        } else {
            buf[size] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static int tls_config(struct tr_node *node, nng_tls_mode mode, nng_tls_config **out)
{
    if (nng_tls_config_alloc(out, mode) != 0)
        return TR_ENOMEM;
    int rv;
    if (node->tls_key != NULL) {
        char *cert = read_file(node->tls_cert), *key = read_file(node->tls_key);
        rv = cert != NULL && key != NULL ? nng_tls_config_own_cert(*out, cert, key, NULL) : NNG_ENOENT;
        free(cert);
        free(key);
    } else {
        rv = nng_tls_config_cert_key_file(*out, node->tls_cert, NULL);
    }
    if (rv == 0 && node->tls_ca != NULL)
        rv = nng_tls_config_ca_file(*out, node->tls_ca);
    if (rv == 0)
        rv = nng_tls_config_auth_mode(*out, node->tls_ca != NULL ? NNG_TLS_AUTH_MODE_REQUIRED
                                                                 : NNG_TLS_AUTH_MODE_NONE);
    return rv == 0 ? TR_OK : TR_EINVAL;
}

int tr_tls_setup(struct tr_node *node)
{
    if (node->tls_cert == NULL)
        return TR_OK;
    int rc = tls_config(node, NNG_TLS_MODE_SERVER, &node->tls);
    if (rc == TR_OK)
        rc = tls_config(node, NNG_TLS_MODE_CLIENT, &node->tls_client);
    return rc;
}

void tr_tls_free(struct tr_node *node)
{
    if (node->tls != NULL)
        nng_tls_config_free(node->tls);
    if (node->tls_client != NULL)
        nng_tls_config_free(node->tls_client);
    free(node->tls_cert);
    free(node->tls_key);
    free(node->tls_ca);
}

static bool is_tls(const char *url) { return strncmp(url, "tls+", 4) == 0; }

int tr_tls_apply_dialer(struct tr_node *node, nng_stream_dialer *d, const char *url)
{
    if (!is_tls(url))
        return TR_OK;
    if (node->tls_client == NULL || nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, node->tls_client) != 0)
        return TR_EADDR;
    char host[TR_WIRE_URL_MAX + 1];
    const char *h = strstr(url, "://");
    if (h != NULL && sscanf(h + 3, "%255[^:/]", host) == 1)
        nng_stream_dialer_set_string(d, NNG_OPT_TLS_SERVER_NAME, host); /* checked against the cert */
    return TR_OK;
}

int tr_tls_apply_listener(struct tr_node *node, nng_stream_listener *l, const char *url)
{
    if (!is_tls(url))
        return TR_OK;
    return node->tls != NULL && nng_stream_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, node->tls) == 0 ? TR_OK
                                                                                                  : TR_EADDR;
}
