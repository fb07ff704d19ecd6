/* Logging internals shared with the tests: the token bucket's one step. */
#ifndef TROUPE_LOG_IMPL_H
#define TROUPE_LOG_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "troupe/log.h"

/* Takes one token from lim's bucket at time now_ms (monotonic milliseconds),
 * refilling it first for the time passed. True if a token was taken. */
bool tr_log_limiter_take(tr_log_limiter *lim, uint64_t now_ms);

#endif
