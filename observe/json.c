/* The dashboard's data as JSON: GET /api/overview (figures) and
 * GET /api/actors (the tree). Numbers are totals read at request time;
 * the page computes rates from two consecutive answers. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "observe/render.h"
#include "troupe/inspect.h"
#include "troupe/metrics.h"
#include "troupe/timer.h"

/* ,"peers":[...]: each member this node knows, its state and traffic. */
static void render_peers(tr_node *node, tr_textbuf *out)
{
    tr_member *m;
    size_t n;
    if (!tr_observe_snapshot_members(node, out, &m, &n))
        return;
    tr_textbuf_printf(out, ",\"peers\":[");
    for (size_t i = 0; i < n; i++) {
        const tr_member *p = &m[i];
        tr_textbuf_printf(out, "%s{\"name\":\"", i > 0 ? "," : "");
        tr_textbuf_json_escaped(out, p->name);
        tr_textbuf_printf(out,
                          "\",\"state\":\"%s\",\"hidden\":%s,\"since_ms\":%" PRIu64
                          ",\"frames_in\":%" PRIu64 ",\"frames_out\":%" PRIu64
                          ",\"envelopes_in\":%" PRIu64 ",\"envelopes_out\":%" PRIu64
                          ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
                          ",\"rtt_us\":%" PRIu32,
                          tr_observe_member_state(p->state), p->hidden ? "true" : "false",
                          p->since_ms, p->frames_in, p->frames_out, p->envelopes_in,
                          p->envelopes_out, p->bytes_in, p->bytes_out, p->rtt_us);
        /* the failure detector: phi (0 unless up; null: beyond doubt), ms since it was heard */
        if (isfinite(p->phi))
            tr_textbuf_printf(out, ",\"phi\":%.3f", p->phi);
        else
            tr_textbuf_printf(out, ",\"phi\":null");
        if (p->heard_ago_ms != UINT64_MAX)
            tr_textbuf_printf(out, ",\"heard_ago_ms\":%" PRIu64, p->heard_ago_ms);
        tr_textbuf_printf(out, "}");
    }
    tr_textbuf_printf(out, "]");
    tr_node_members_free(m);
}

static void render_node(tr_node *node, tr_textbuf *out)
{
    if (node == NULL) {
        tr_textbuf_printf(out, "\"node\":null");
        return;
    }
    tr_node_stats s;
    tr_node_stats_get(node, &s);
    tr_textbuf_printf(out, "\"node\":{\"name\":\"");
    tr_textbuf_json_escaped(out, tr_node_name(node));
    tr_textbuf_printf(out,
                      "\",\"peers_up\":%" PRIu32 ",\"frames_in\":%" PRIu64
                      ",\"frames_out\":%" PRIu64 ",\"envelopes_in\":%" PRIu64
                      ",\"envelopes_out\":%" PRIu64 ",\"bytes_in\":%" PRIu64
                      ",\"bytes_out\":%" PRIu64 ",\"bad_frames\":%" PRIu64
                      ",\"refused\":%" PRIu64 ",\"node_downs\":%" PRIu64
                      ",\"queue_full\":%" PRIu64 ",\"not_connected\":%" PRIu64,
                      s.peers_up, s.frames_in, s.frames_out, s.envelopes_in, s.envelopes_out,
                      s.bytes_in, s.bytes_out, s.bad_frames, s.refused, s.node_downs,
                      s.queue_full, s.not_connected);
    render_peers(node, out);
    tr_textbuf_printf(out, "}");
}

void tr_observe_render_overview(tr_system *sys, tr_node *node, tr_textbuf *out)
{
    tr_metrics m;
    tr_metrics_get(sys, &m);
    uint64_t messages = 0;
    tr_textbuf_printf(out, "{\"time_ms\":%" PRIu64 ",\"workers\":[", tr_now_ms());
    for (uint32_t w = 0; w < m.workers; w++) {
        const tr_worker_metrics *wm = &m.worker[w];
        messages += wm->messages;
        tr_textbuf_printf(out,
                          "%s{\"queue_depth\":%" PRIu64 ",\"steals\":%" PRIu64
                          ",\"parks\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"turns\":%" PRIu64
                          "}",
                          w > 0 ? "," : "", wm->queue_depth, wm->steals, wm->parks,
                          wm->messages, wm->turns);
    }
    tr_textbuf_printf(out,
                      "],\"messages\":%" PRIu64 ",\"injection_depth\":%" PRIu64
                      ",\"actors_alive\":%" PRIu64 ",\"actors_spawned\":%" PRIu64
                      ",\"dead_letters\":%" PRIu64 ",\"mutes\":%" PRIu64
                      ",\"deadline_overruns\":%" PRIu64 ",\"dead_letters_by_reason\":{",
                      messages, m.injection_depth, m.actors_alive, m.actors_spawned,
                      m.dead_letters, m.mutes, m.deadline_overruns);
    bool first = true;
    for (int r = 0; r < TR_METRICS_REASONS; r++) {
        if (m.dead_letters_by_reason[r] == 0)
            continue;
        tr_textbuf_printf(out, "%s\"", first ? "" : ",");
        tr_textbuf_json_escaped(out, tr_observe_reason_label(r));
        tr_textbuf_printf(out, "\":%" PRIu64, m.dead_letters_by_reason[r]);
        first = false;
    }
    tr_textbuf_printf(out, "},\"actors_ended\":{");
    for (int k = 0; k < TR_END_KINDS; k++)
        tr_textbuf_printf(out, "%s\"%s\":%" PRIu64, k > 0 ? "," : "",
                          tr_observe_end_label((tr_end_kind)k), m.actors_ended[k]);
    tr_textbuf_printf(out,
                      "},\"mailbox_high_water\":%" PRIu64 ",\"supervisor_restarts\":%" PRIu64
                      ",\"supervisor_escalations\":%" PRIu64 ",\"blocking\":{\"threads\":%" PRIu64
                      ",\"idle\":%" PRIu64 ",\"queued\":%" PRIu64 ",\"calls\":%" PRIu64 "},",
                      m.mailbox_high_water, m.supervisor_restarts, m.supervisor_escalations,
                      m.blocking_threads, m.blocking_idle, m.blocking_queued, m.blocking_calls);
    render_node(node, out);
    tr_textbuf_printf(out, "}\n");
}

static const char *state_name(tr_actor_state s)
{
    switch (s) {
    case TR_STATE_CREATED: return "created";
    case TR_STATE_RUNNING: return "running";
    case TR_STATE_WAITING: return "waiting";
    case TR_STATE_STOPPING: return "stopping";
    default: return "dead";
    }
}

void tr_observe_render_actors(tr_system *sys, tr_textbuf *out)
{
    tr_actor_info *info;
    size_t live, listed;
    if (!tr_observe_snapshot_actors(sys, tr_actors_list, TR_OBSERVE_MAX_ACTORS, out, &info, &live,
                                    &listed))
        return;
    tr_textbuf_printf(out, "{\"time_ms\":%" PRIu64 ",\"live\":%zu,\"listed\":%zu,\"actors\":[",
                      tr_now_ms(), live, listed);
    for (size_t i = 0; i < listed; i++) {
        const tr_actor_info *a = &info[i];
        /* ids as strings: a tr_ref id can exceed JavaScript's 2^53 */
        tr_textbuf_printf(out,
                          "%s{\"id\":\"%" PRIu64 "\",\"parent\":\"%" PRIu64
                          "\",\"state\":\"%s\",\"queued\":%" PRIu32 ",\"peak\":%" PRIu32
                          ",\"capacity\":%" PRIu32 ",\"children\":%" PRIu32
                          ",\"supervisor\":%s,\"restarts\":%" PRIu32 ",\"name\":\"",
                          i > 0 ? "," : "", a->ref.id, a->parent.id, state_name(a->state),
                          a->queued, a->mailbox_peak, a->capacity, a->children,
                          a->supervisor ? "true" : "false", a->restarts);
        tr_textbuf_json_escaped(out, a->name);
        tr_textbuf_printf(out, "\",\"behaviour\":\"");
        tr_textbuf_json_escaped(out, a->behaviour);
        tr_textbuf_printf(out, "\"}");
    }
    tr_textbuf_printf(out, "]}\n");
    free(info);
}
