/* TLS handshake failures of a dial, read from NNG's dialer statistics:
 * NNG redials a failed handshake forever without telling anyone, so a
 * connect to a peer whose certificate we do not trust (or that does not
 * trust ours) would only time out. */
#include <string.h>

#include "net/node_impl.h"

/* The value of the counter `name` in a statistics scope, or 0. */
static uint64_t stat_child(nng_stat *scope, const char *name)
{
    for (nng_stat *c = nng_stat_child(scope); c != NULL; c = nng_stat_next(c))
        if (strcmp(nng_stat_name(c), name) == 0)
            return nng_stat_value(c);
    return 0;
}

bool tr_stream_auth_failed(const tr_stream *s)
{
    if (!s->open || strncmp(s->url, "tls+", 4) != 0)
        return false;
    nng_stat *all = NULL;
    if (nng_stats_get(&all) != 0) /* NNG built without statistics */
        return false;
    /* walked by hand: nng_stat_find_dialer of NNG 1.5.2 returns the first
     * dialer whatever the id */
    bool failed = false;
    int id = nng_dialer_id(s->dialer);
    for (nng_stat *d = nng_stat_child(all); d != NULL; d = nng_stat_next(d)) {
        if (nng_stat_type(d) == NNG_STAT_SCOPE && strcmp(nng_stat_name(d), "dialer") == 0 &&
            stat_child(d, "id") == (uint64_t)id) {
            failed = stat_child(d, "auth") > 0;
            break;
        }
    }
    nng_stats_free(all);
    return failed;
}
