/* Log lines about the network through the runtime's log hook
 * (troupe/log.h, subsystem "net"), each prefixed with the node's name.
 * Two rate limits per node, so that a stranger flooding the node with bad
 * handshakes can neither flood the log nor crowd out the lines about real
 * peers: hostile-input lines (refusals, failed handshakes, bad frames) get
 * a burst of 5 then 1 a second; peer lines (up, down) 20 then 5 a second.
 * Suppressed lines are counted in the next line that passes. */
#include <stdarg.h>
#include <stdio.h>

#include "net/node_impl.h"

static void emit(struct tr_node *node, tr_log_limiter *lim, tr_log_level level, const char *fmt,
                 va_list ap)
{
    if (!tr_log_enabled(level))
        return;
    char line[TR_LOG_LINE_MAX];
    vsnprintf(line, sizeof(line), fmt, ap);
    tr_log_limited(lim, level, "net", "%s: %s", node->name, line);
}

void tr_net_log(struct tr_node *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(node, &node->log_hostile, TR_LOG_WARN, fmt, ap);
    va_end(ap);
}

void tr_net_log_peer(struct tr_node *node, tr_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(node, &node->log_peers, level, fmt, ap);
    va_end(ap);
}
