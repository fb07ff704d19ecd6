/* Troupe: actor-model message passing for C. Include this one header (it
 * needs no msgpack headers; troupe/wire.h, for packing with msgpack-c
 * yourself, is included separately by those who use it). */
#ifndef TROUPE_H
#define TROUPE_H
#include "troupe/errors.h"
#include "troupe/log.h"
#include "troupe/actor.h"
#include "troupe/blocking.h"
#include "troupe/timer.h"
#include "troupe/group.h"
#include "troupe/inbox.h"
#include "troupe/metrics.h"
#include "troupe/monitor.h"
#include "troupe/link.h"
#include "troupe/token.h"
#include "troupe/supervisor.h"
#include "troupe/fault.h"
#include "troupe/outcome.h"
#include "troupe/retry.h"
#include "troupe/breaker.h"
#include "troupe/socket.h"
#include "troupe/registry.h"
#include "troupe/node.h"
#include "troupe/pg.h"
#include "troupe/pack.h"
#include "troupe/typed.h"
#include "troupe/observe.h"
#include "troupe/inspect.h"
#endif
