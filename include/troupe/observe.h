/* Observing a running system over HTTP, like Erlang's observer or an Akka
 * Prometheus exporter: an HTTP server (NNG's own, nng_http_server) that
 * serves
 *   GET /metrics       the runtime figures in the Prometheus text format 0.0.4
 *                      (README.md, "Operating a node", lists every metric);
 *   GET /              a live dashboard (one page and app.js, compiled into
 *                      the library: plain HTML, JavaScript and SVG);
 *   GET /api/overview  the dashboard's figures as JSON (totals);
 *   GET /api/actors    the actor tree as JSON (tr_actors_list, at most 2000).
 *
 * Off unless started: nothing listens and nothing is counted for it until
 * tr_observe_start, or tr_system_create with tr_config.observe_url (or the
 * environment variable TROUPE_OBSERVE) set, which serves the system alone. The figures are read at request time through the same
 * calls a program can make (tr_metrics_get, tr_node_stats_get), so serving
 * them costs the workers nothing between scrapes.
 *
 * The server has no authentication: bind it to loopback or a management
 * network. It only answers GET (and HEAD), takes no request body, and its
 * answers are built from counters, so a stranger can make it do no more
 * work than one snapshot per request; /api/actors (one pass over the actor
 * table) is computed once for all the requests waiting for it. */
#ifndef TROUPE_OBSERVE_H
#define TROUPE_OBSERVE_H

#include "troupe/actor.h"
#include "troupe/node.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_observer tr_observer;

/* Starts serving `sys` (and `node`, which may be NULL for a system without
 * a node) on `url`, e.g. "http://127.0.0.1:9464" (port 0: the system picks
 * one; tr_observe_url tells which). On success *out is owned by the caller
 * until tr_observe_stop, which must come before tr_node_stop(node) and
 * tr_system_destroy(sys). Returns TR_OK, TR_EINVAL, TR_ENOMEM, or TR_EADDR
 * (bad URL, not http://, address in use). */
TR_API int tr_observe_start(tr_system *sys, tr_node *node, const char *url, tr_observer **out);

/* Writes the URL the server answers on, with the bound port filled in, to
 * buf (e.g. "http://127.0.0.1:40123"). Returns TR_OK, TR_EINVAL, or
 * TR_ETOOBIG when len is too small. */
TR_API int tr_observe_url(const tr_observer *obs, char *buf, size_t len);

/* The observer the system started itself (tr_config.observe_url or the
 * TROUPE_OBSERVE environment variable), owned by the system (stopped by
 * tr_system_destroy); NULL when there is none. */
TR_API tr_observer *tr_system_observer(tr_system *sys);

/* Stops the server: no request is being answered when it returns, later
 * ones are refused (503 while it stops, 404 for the moment between its
 * routes going and the server closing, then no connection; a server shared
 * with another holder of the address answers 404 for our routes). Frees
 * the observer: nothing of it is left when it returns. NULL is ignored. */
TR_API void tr_observe_stop(tr_observer *obs);

#ifdef __cplusplus
}
#endif
#endif
