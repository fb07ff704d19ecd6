/* TLS configurations from PEM files (tls.h), and the node's: for its
 * tls+tcp:// URLs one NNG configuration for listeners (server side) and one
 * per dialer (client side, naming the host it dials), each with this node's
 * certificate and, when given, the CA peers' certificates must chain to
 * (then required: mutual TLS). The handshake of docs/wire.md runs inside the TLS stream,
 * so a tls+tcp:// peer also needs the cookie. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/node_impl.h"
#include "net/tls.h"

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

int tr_tls_config_load(nng_tls_mode mode, const char *cert_file, const char *key_file,
                       const char *ca_file, nng_tls_config **out)
{
    nng_tls_config *cfg;
    if (nng_tls_config_alloc(&cfg, mode) != 0)
        return TR_ENOMEM;
    int rv = 0;
    if (key_file != NULL) {
        char *cert = cert_file != NULL ? read_file(cert_file) : NULL, *key = read_file(key_file);
        rv = cert != NULL && key != NULL ? nng_tls_config_own_cert(cfg, cert, key, NULL) : NNG_ENOENT;
        free(cert);
        free(key);
    } else if (cert_file != NULL) {
        rv = nng_tls_config_cert_key_file(cfg, cert_file, NULL);
    }
    if (rv == 0 && ca_file != NULL)
        rv = nng_tls_config_ca_file(cfg, ca_file);
    if (rv == 0)
        rv = nng_tls_config_auth_mode(cfg, ca_file != NULL ? NNG_TLS_AUTH_MODE_REQUIRED
                                                           : NNG_TLS_AUTH_MODE_NONE);
    if (rv != 0) {
        nng_tls_config_free(cfg);
        return rv == NNG_ENOMEM ? TR_ENOMEM : TR_ETLS;
    }
    *out = cfg;
    return TR_OK;
}

bool tr_tls_url(const char *url) { return strncmp(url, "tls+", 4) == 0 || strncmp(url, "wss://", 6) == 0; }

int tr_tls_setup(struct tr_node *node)
{
    if (node->tls_cert == NULL)
        return TR_OK;
    int rc = tr_tls_config_load(NNG_TLS_MODE_SERVER, node->tls_cert, node->tls_key, node->tls_ca,
                                &node->tls);
    nng_tls_config *client = NULL; /* checked here, loaded again for each dialer */
    if (rc == TR_OK)
        rc = tr_tls_config_load(NNG_TLS_MODE_CLIENT, node->tls_cert, node->tls_key, node->tls_ca, &client);
    if (client != NULL)
        nng_tls_config_free(client);
    return rc;
}

void tr_tls_free(struct tr_node *node)
{
    if (node->tls != NULL)
        nng_tls_config_free(node->tls);
    free(node->tls_cert);
    free(node->tls_key);
    free(node->tls_ca);
}

static bool is_tls(const char *url) { return strncmp(url, "tls+", 4) == 0; }

/* Each dialer gets its own client configuration: the server name it checks
 * the peer's certificate against is the host of its URL, and NNG refuses to
 * change a configuration once a connection has used it (so one shared
 * configuration would check every host against the first one's name). */
int tr_tls_apply_dialer(struct tr_node *node, nng_stream_dialer *d, const char *url)
{
    if (!is_tls(url))
        return TR_OK;
    if (node->tls_cert == NULL)
        return TR_EADDR;
    nng_tls_config *cfg;
    int rc = tr_tls_config_load(NNG_TLS_MODE_CLIENT, node->tls_cert, node->tls_key, node->tls_ca, &cfg);
    if (rc != TR_OK)
        return rc;
    char host[TR_WIRE_URL_MAX + 1];
    const char *h = strstr(url, "://");
    if (h != NULL && sscanf(h + 3, "%255[^:/]", host) == 1 && nng_tls_config_server_name(cfg, host) != 0)
        rc = TR_ETLS;
    if (rc == TR_OK && nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg) != 0)
        rc = TR_EADDR;
    nng_tls_config_free(cfg); /* the dialer holds its own reference */
    return rc;
}

int tr_tls_apply_listener(struct tr_node *node, nng_stream_listener *l, const char *url)
{
    if (!is_tls(url))
        return TR_OK;
    return node->tls != NULL && nng_stream_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, node->tls) == 0 ? TR_OK
                                                                                                  : TR_EADDR;
}
