/* TLS for socket actors (tls+tcp:// and wss:// URLs): the settings
 * (tr_tls_opts) are checked against the URL, loaded by the loader the node
 * uses (net/tls.h), and handed to the NNG listener or dialer, which holds
 * its own reference, so nothing is kept here. */
#include "io/conn.h"
#include "net/tls.h"

int tr_io_tls_listener(nng_stream_listener *l, const char *url, const tr_tls_opts *tls)
{
    if (tls == NULL)
        return tr_tls_url(url) ? TR_EINVAL : TR_OK;
    if (!tr_tls_url(url) || tls->cert_file == NULL)
        return TR_EINVAL;
    nng_tls_config *cfg;
    int rc = tr_tls_config_load(NNG_TLS_MODE_SERVER, tls->cert_file, tls->key_file, tls->ca_file, &cfg);
    if (rc != TR_OK)
        return rc;
    if (nng_stream_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg) != 0)
        rc = TR_ETLS;
    nng_tls_config_free(cfg); /* the listener holds it */
    return rc;
}

int tr_io_tls_dialer(nng_stream_dialer *d, const char *url, const tr_tls_opts *tls)
{
    if (tls == NULL)
        return tr_tls_url(url) ? TR_EINVAL : TR_OK;
    if (!tr_tls_url(url) || tls->ca_file == NULL)
        return TR_EINVAL; /* a server is always verified */
    nng_url *u = NULL;
    const char *name = tls->server_name;
    if (name == NULL) {
        if (nng_url_parse(&u, url) != 0)
            return TR_EADDR;
        name = u->u_hostname;
    }
    nng_tls_config *cfg;
    int rc = tr_tls_config_load(NNG_TLS_MODE_CLIENT, tls->cert_file, tls->key_file, tls->ca_file, &cfg);
    if (rc == TR_OK) {
        if (nng_tls_config_server_name(cfg, name) != 0 ||
            nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg) != 0)
            rc = TR_ETLS;
        nng_tls_config_free(cfg); /* the dialer holds it */
    }
    if (u != NULL)
        nng_url_free(u);
    return rc;
}
