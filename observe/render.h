/* The observer's answers, one renderer per kind of page. Each appends its
 * text to `out` from a fresh snapshot of the system (and node, may be NULL);
 * none blocks on the workers. */
#ifndef TROUPE_OBSERVE_RENDER_H
#define TROUPE_OBSERVE_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "observe/textbuf.h"
#include "troupe/inspect.h"
#include "troupe/metrics.h"
#include "troupe/node.h"

/* GET /metrics: the Prometheus text exposition format 0.0.4. `scrapes`
 * counts the requests answered so far, this one included. Per-supervisor
 * restart counts for at most TR_OBSERVE_MAX_SUPERVISORS supervisors. */
#define TR_OBSERVE_MAX_SUPERVISORS 500
void tr_observe_render_prometheus(tr_system *sys, tr_node *node, uint64_t scrapes,
                                  tr_textbuf *out);

/* The short name of an error code used as a dead letter's reason label:
 * the code's name without TR_E, lower case ("dead", "full", "notconn");
 * "other" for codes without one. */
const char *tr_observe_reason_label(int code);

/* The label value of an end kind: "normal", "shutdown", "killed",
 * "cancelled", "crashed". */
const char *tr_observe_end_label(tr_end_kind kind);

/* The label value of a member state: "connecting", "up", "down", "left". */
const char *tr_observe_member_state(tr_member_state state);

/* A list of live actors for a page (snapshot.c): `list` (tr_actors_list or
 * tr_supervisors_list) fills a malloc'd *info with at most max of them, which
 * the caller frees; *live is how many there are in all, *listed how many
 * *info holds. False, with out marked failed, when out of memory. */
typedef size_t (*tr_observe_list_fn)(tr_system *sys, tr_actor_info *out, size_t max);
bool tr_observe_snapshot_actors(tr_system *sys, tr_observe_list_fn list, size_t max,
                                tr_textbuf *out, tr_actor_info **info, size_t *live,
                                size_t *listed);

/* The members `node` knows (tr_node_members) in *members and *n, to free
 * with tr_node_members_free. False, with out marked failed, when they
 * cannot be listed. */
bool tr_observe_snapshot_members(tr_node *node, tr_textbuf *out, tr_member **members, size_t *n);

/* GET /api/overview: one JSON object of the figures the dashboard plots
 * (totals; the page turns them into rates) and the node's counters. */
void tr_observe_render_overview(tr_system *sys, tr_node *node, tr_textbuf *out);

/* GET /api/actors: the actor tree as JSON, at most TR_OBSERVE_MAX_ACTORS
 * actors (tr_actors_list), with how many are live in all. */
#define TR_OBSERVE_MAX_ACTORS 2000
void tr_observe_render_actors(tr_system *sys, tr_textbuf *out);

/* The dashboard's static files, embedded at build time (cmake/embed.cmake
 * from observe/dashboard/). */
extern const unsigned char tr_dashboard_index_html[];
extern const unsigned long tr_dashboard_index_html_len;
extern const unsigned char tr_dashboard_app_js[];
extern const unsigned long tr_dashboard_app_js_len;

#endif
