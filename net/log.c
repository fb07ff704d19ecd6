/* Log lines about the network. Bad input must leave a trace outside
 * tr_node_stats, but a stranger must not be able to flood the log: at most
 * LOG_PER_SECOND lines a second per node, then one line saying how many
 * were left out. */
#include <stdarg.h>
#include <stdio.h>

#include "net/node_impl.h"

#define LOG_PER_SECOND 20

void tr_net_log(struct tr_node *node, const char *fmt, ...)
{
    uint64_t second = tr_now_ms() / 1000;
    uint64_t window = atomic_load_explicit(&node->log_window, memory_order_relaxed);
    if (window != second && atomic_compare_exchange_strong(&node->log_window, &window, second)) {
        uint64_t skipped = atomic_exchange(&node->log_count, 0);
        if (skipped > LOG_PER_SECOND)
            fprintf(stderr, "troupe %s: %llu network log lines left out\n", node->name,
                    (unsigned long long)(skipped - LOG_PER_SECOND));
    }
    if (atomic_fetch_add_explicit(&node->log_count, 1, memory_order_relaxed) >= LOG_PER_SECOND)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "troupe %s: %s\n", node->name, line);
}
