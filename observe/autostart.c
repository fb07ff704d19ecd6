/* tr_system_create: the runtime (actors/system.c) plus the HTTP observer the
 * configuration asks for, attached to the system (actors/attachment.h) so
 * that tr_system_destroy stops it first. It lives here, above both the
 * runtime and the node, so that actors/ does not call up into observe/. */
#include <stdlib.h>

#include "actors/attachment.h"
#include "troupe/errors.h"
#include "troupe/log.h"
#include "troupe/observe.h"

static void stop_observer(void *obs) { tr_observe_stop(obs); }

/* tr_config.observe_url, else TROUPE_OBSERVE: serve /metrics and the
 * dashboard (observe.h). Only the explicit option fails the creation. */
static int start_observer(tr_system *sys, const char *url)
{
    bool from_env = url == NULL;
    if (from_env)
        url = getenv("TROUPE_OBSERVE");
    if (url == NULL || url[0] == '\0')
        return TR_OK;
    tr_observer *obs = NULL;
    int rc = tr_observe_start(sys, NULL, url, &obs);
    if (rc == TR_OK) {
        tr_system_attach(sys, obs, stop_observer);
        return TR_OK;
    }
    if (from_env) {
        tr_log(TR_LOG_WARN, "observe", "TROUPE_OBSERVE=%s: %s (not serving)", url, tr_strerror(rc));
        return TR_OK;
    }
    return rc;
}

int tr_system_create(const tr_config *cfg, tr_system **out)
{
    if (out == NULL)
        return TR_EINVAL;
    tr_system *sys = NULL;
    int rc = tr_system_create_runtime(cfg, &sys);
    if (rc != TR_OK)
        return rc;
    if ((rc = start_observer(sys, cfg != NULL ? cfg->observe_url : NULL)) != TR_OK) {
        tr_system_destroy(sys);
        return rc;
    }
    *out = sys;
    return TR_OK;
}

tr_observer *tr_system_observer(tr_system *sys) { return sys != NULL ? tr_system_attached(sys) : NULL; }
