/* The observer's answers, one renderer per kind of page. Each appends its
 * text to `out` from a fresh snapshot of the system (and node, may be NULL);
 * none blocks on the workers. */
#ifndef TROUPE_OBSERVE_RENDER_H
#define TROUPE_OBSERVE_RENDER_H

#include <stdint.h>

#include "observe/textbuf.h"
#include "troupe/node.h"

/* GET /metrics: the Prometheus text exposition format 0.0.4. `scrapes`
 * counts the requests answered so far, this one included. */
void tr_observe_render_prometheus(tr_system *sys, tr_node *node, uint64_t scrapes,
                                  tr_textbuf *out);

#endif
