/* GET /metrics: the runtime figures in the Prometheus text exposition
 * format 0.0.4 (one "# HELP", one "# TYPE" and the samples per family).
 * Counters end in _total; figures that go up and down are gauges.
 * README.md, "Operating a node", explains each one. */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "observe/render.h"
#include "troupe/inspect.h"
#include "troupe/metrics.h"

#define TEXT_OF_(x) #x
#define TEXT_OF(x) TEXT_OF_(x)

static void family(tr_textbuf *out, const char *name, const char *type, const char *help)
{
    tr_textbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(tr_textbuf *out, const char *name, uint64_t value)
{
    tr_textbuf_printf(out, "%s %" PRIu64 "\n", name, value);
}

/* A family of one unlabelled sample. */
typedef struct scalar {
    const char *name, *type, *help;
    uint64_t value;
} scalar;

/* Writes each of the n families, in order. */
static void scalars(tr_textbuf *out, const scalar *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        family(out, s[i].name, s[i].type, s[i].help);
        sample(out, s[i].name, s[i].value);
    }
}

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void render_workers(const tr_metrics *m, tr_textbuf *out)
{
    family(out, "troupe_workers", "gauge", "Worker threads of the system.");
    sample(out, "troupe_workers", m->workers);

    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } per_worker[] = {
        {"troupe_worker_queue_depth", "gauge", "Actors waiting in the worker's local run queue.",
         offsetof(tr_worker_metrics, queue_depth)},
        {"troupe_worker_steals_total", "counter", "Actors the worker stole from other workers.",
         offsetof(tr_worker_metrics, steals)},
        {"troupe_worker_parks_total", "counter", "Times the worker went to sleep for lack of work.",
         offsetof(tr_worker_metrics, parks)},
        {"troupe_worker_messages_total", "counter", "Messages handled by actors on the worker.",
         offsetof(tr_worker_metrics, messages)},
        {"troupe_worker_turns_total", "counter", "Actor turns the worker ran.",
         offsetof(tr_worker_metrics, turns)},
    };
    for (size_t f = 0; f < NELEMS(per_worker); f++) {
        family(out, per_worker[f].name, per_worker[f].type, per_worker[f].help);
        for (uint32_t w = 0; w < m->workers; w++) {
            const char *base = (const char *)&m->worker[w];
            uint64_t v = *(const uint64_t *)(base + per_worker[f].offset);
            tr_textbuf_printf(out, "%s{worker=\"%u\"} %" PRIu64 "\n", per_worker[f].name, w, v);
        }
    }
    family(out, "troupe_injection_queue_depth", "gauge",
           "Actors waiting in the global injection queue.");
    sample(out, "troupe_injection_queue_depth", m->injection_depth);
}

static void render_actors(const tr_metrics *m, tr_textbuf *out)
{
    const scalar counts[] = {
        {"troupe_actors_alive", "gauge", "Actors spawned and not yet ended.", m->actors_alive},
        {"troupe_actors_spawned_total", "counter", "Actors spawned since the start.",
         m->actors_spawned},
        {"troupe_mutes_total", "counter",
         "Times a sender was muted by a full mailbox (backpressure).", m->mutes},
        {"troupe_deadline_overruns_total", "counter",
         "Handlers that ran past their per-message deadline.", m->deadline_overruns},
    };
    scalars(out, counts, NELEMS(counts));

    family(out, "troupe_actors_ended_total", "counter",
           "Actors ended, by the class of their exit reason (normal, shutdown, killed, "
           "cancelled, crashed).");
    for (int k = 0; k < TR_END_KINDS; k++)
        tr_textbuf_printf(out, "troupe_actors_ended_total{reason=\"%s\"} %" PRIu64 "\n",
                          tr_observe_end_label((tr_end_kind)k), m->actors_ended[k]);
    family(out, "troupe_mailbox_high_water", "gauge",
           "The most messages any actor's mailbox has held since the start.");
    sample(out, "troupe_mailbox_high_water", m->mailbox_high_water);

    family(out, "troupe_dead_letters_total", "counter",
           "Messages that could not be delivered, by reason (an error code).");
    for (int r = 0; r < TR_METRICS_REASONS; r++) {
        uint64_t v = m->dead_letters_by_reason[r];
        if (v == 0 && r != TR_EDEAD)
            continue; /* reason="dead" always, so the family is never empty */
        tr_textbuf_printf(out, "troupe_dead_letters_total{reason=\"%s\"} %" PRIu64 "\n",
                          tr_observe_reason_label(r), v);
    }
}

/* Appends `s` as a label value (backslash, quote and newline escaped). */
static void label_value(tr_textbuf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            tr_textbuf_printf(out, "\\%c", *s);
        else if (*s == '\n')
            tr_textbuf_printf(out, "\\n");
        else
            tr_textbuf_printf(out, "%c", *s);
    }
}

/* The system's totals, then each live supervisor's own restart count
 * (tr_supervisors_list: one pass over the actor table), labelled by its
 * name and its ref (two supervisors may share a name; a supervisor that is
 * itself restarted is a new series, as a counter reset). */
static void render_supervisors(tr_system *sys, const tr_metrics *m, tr_textbuf *out)
{
    const scalar s[] = {
        {"troupe_supervisor_restarts_total", "counter",
         "Child restarts decided by supervisors (a group restart counts once).",
         m->supervisor_restarts},
        {"troupe_supervisor_escalations_total", "counter",
         "Supervisors that exceeded their restart intensity and failed.",
         m->supervisor_escalations},
    };
    scalars(out, s, NELEMS(s));

    tr_actor_info *info;
    size_t live, listed;
    if (!tr_observe_snapshot_actors(sys, tr_supervisors_list, TR_OBSERVE_MAX_SUPERVISORS, out,
                                    &info, &live, &listed))
        return;
    const scalar count[] = {{"troupe_supervisors", "gauge", "Live supervisors.", live}};
    scalars(out, count, NELEMS(count));
    family(out, "troupe_supervisor_child_restarts_total", "counter",
           "Child restarts this supervisor decided since it started (a group restart counts "
           "once); at most " TEXT_OF(TR_OBSERVE_MAX_SUPERVISORS) " supervisors.");
    for (size_t i = 0; i < listed; i++) {
        tr_textbuf_printf(out, "troupe_supervisor_child_restarts_total{supervisor=\"");
        label_value(out, info[i].name);
        tr_textbuf_printf(out, "\",ref=\"%" PRIu64 "\"} %" PRIu32 "\n", info[i].ref.id,
                          info[i].restarts);
    }
    free(info);
}

static void render_blocking(const tr_metrics *m, tr_textbuf *out)
{
    const scalar s[] = {
        {"troupe_blocking_threads", "gauge", "Threads of the blocking pool.", m->blocking_threads},
        {"troupe_blocking_idle_threads", "gauge", "Threads of the blocking pool waiting for work.",
         m->blocking_idle},
        {"troupe_blocking_queue_depth", "gauge",
         "Blocking calls and blocking actors' turns waiting for a thread.", m->blocking_queued},
        {"troupe_blocking_calls_total", "counter", "tr_blocking_run calls run.",
         m->blocking_calls},
    };
    scalars(out, s, NELEMS(s));
}

static void peer_sample(tr_textbuf *out, const char *name, const tr_member *p, const char *extra,
                        uint64_t value)
{
    tr_textbuf_printf(out, "%s{peer=\"", name);
    label_value(out, p->name);
    tr_textbuf_printf(out, "\"%s} %" PRIu64 "\n", extra, value);
}

static void render_peers(tr_node *node, tr_textbuf *out)
{
    tr_member *m;
    size_t n;
    if (!tr_observe_snapshot_members(node, out, &m, &n))
        return;
    family(out, "troupe_peer_state", "gauge",
           "Each known node: 1 for its current state (connecting, up, down, left), else 0.");
    for (size_t i = 0; i < n; i++)
        for (unsigned s = TR_MEMBER_CONNECTING; s <= TR_MEMBER_LEFT; s++) {
            char extra[32];
            snprintf(extra, sizeof(extra), ",state=\"%s\"",
                     tr_observe_member_state((tr_member_state)s));
            peer_sample(out, "troupe_peer_state", &m[i], extra, (unsigned)m[i].state == s);
        }
    static const struct {
        const char *name, *help;
        size_t in, out; /* offsets of the tr_member counters */
    } traffic[] = {
        {"troupe_peer_frames_total", "Frames exchanged with the peer, by direction.",
         offsetof(tr_member, frames_in), offsetof(tr_member, frames_out)},
        {"troupe_peer_envelopes_total",
         "Envelopes (actor messages and control) exchanged with the peer, by direction.",
         offsetof(tr_member, envelopes_in), offsetof(tr_member, envelopes_out)},
        {"troupe_peer_bytes_total", "Bytes exchanged with the peer, by direction.",
         offsetof(tr_member, bytes_in), offsetof(tr_member, bytes_out)},
    };
    for (size_t f = 0; f < NELEMS(traffic); f++) {
        family(out, traffic[f].name, "counter", traffic[f].help);
        for (size_t i = 0; i < n; i++) {
            const char *base = (const char *)&m[i];
            peer_sample(out, traffic[f].name, &m[i], ",direction=\"in\"",
                        *(const uint64_t *)(base + traffic[f].in));
            peer_sample(out, traffic[f].name, &m[i], ",direction=\"out\"",
                        *(const uint64_t *)(base + traffic[f].out));
        }
    }
    family(out, "troupe_peer_rtt_seconds", "gauge",
           "The last round trip of a ping to the peer (peers measured so far).");
    for (size_t i = 0; i < n; i++) {
        if (m[i].rtt_us == 0)
            continue;
        tr_textbuf_printf(out, "troupe_peer_rtt_seconds{peer=\"");
        label_value(out, m[i].name);
        tr_textbuf_printf(out, "\"} %.6f\n", m[i].rtt_us / 1e6);
    }
    family(out, "troupe_peer_phi", "gauge",
           "The failure detector's suspicion of each peer up: 0 while its frames come as usual, "
           "rising with its silence; it is declared down at the node's phi_threshold.");
    for (size_t i = 0; i < n; i++) {
        if (m[i].state != TR_MEMBER_UP)
            continue;
        tr_textbuf_printf(out, "troupe_peer_phi{peer=\"");
        label_value(out, m[i].name);
        if (isfinite(m[i].phi))
            tr_textbuf_printf(out, "\"} %.3f\n", m[i].phi);
        else
            tr_textbuf_printf(out, "\"} +Inf\n");
    }
    family(out, "troupe_peer_last_heard_seconds", "gauge",
           "Seconds since the last frame from the peer arrived (peers heard from).");
    for (size_t i = 0; i < n; i++) {
        if (m[i].heard_ago_ms == UINT64_MAX)
            continue;
        tr_textbuf_printf(out, "troupe_peer_last_heard_seconds{peer=\"");
        label_value(out, m[i].name);
        tr_textbuf_printf(out, "\"} %.3f\n", m[i].heard_ago_ms / 1e3);
    }
    tr_node_members_free(m);
}

static void render_node(tr_node *node, tr_textbuf *out)
{
    tr_node_stats s;
    tr_node_stats_get(node, &s);
    family(out, "troupe_node_info", "gauge", "The node this system runs (value always 1).");
    tr_textbuf_printf(out, "troupe_node_info{node=\"%s\"} 1\n", tr_node_name(node));
    family(out, "troupe_node_peers_up", "gauge", "Peers connected and answering.");
    sample(out, "troupe_node_peers_up", s.peers_up);

    static const struct {
        const char *name, *help;
    } dir[] = {
        {"troupe_node_frames_total", "NNG messages (each a batch of envelopes) by direction."},
        {"troupe_node_envelopes_total", "Actor messages carried, by direction."},
        {"troupe_node_bytes_total", "Bytes carried, by direction."},
    };
    const uint64_t in[] = {s.frames_in, s.envelopes_in, s.bytes_in};
    const uint64_t outv[] = {s.frames_out, s.envelopes_out, s.bytes_out};
    for (size_t i = 0; i < 3; i++) {
        family(out, dir[i].name, "counter", dir[i].help);
        tr_textbuf_printf(out, "%s{direction=\"in\"} %" PRIu64 "\n", dir[i].name, in[i]);
        tr_textbuf_printf(out, "%s{direction=\"out\"} %" PRIu64 "\n", dir[i].name, outv[i]);
    }
    const scalar faults[] = {
        {"troupe_node_bad_frames_total", "counter",
         "Frames refused as malformed, truncated, oversized or of another version.", s.bad_frames},
        {"troupe_node_refused_frames_total", "counter", "Frames with a wrong cookie.", s.refused},
        {"troupe_node_downs_total", "counter", "Peers declared down.", s.node_downs},
        {"troupe_node_queue_full_total", "counter", "Sends that met a full peer queue.",
         s.queue_full},
        {"troupe_node_not_connected_total", "counter", "Sends to a peer that is down or unknown.",
         s.not_connected},
    };
    scalars(out, faults, NELEMS(faults));
    render_peers(node, out);
}

void tr_observe_render_prometheus(tr_system *sys, tr_node *node, uint64_t scrapes,
                                  tr_textbuf *out)
{
    tr_metrics m;
    tr_metrics_get(sys, &m);
    render_workers(&m, out);
    render_actors(&m, out);
    render_supervisors(sys, &m, out);
    render_blocking(&m, out);
    if (node != NULL)
        render_node(node, out);
    family(out, "troupe_observe_scrapes_total", "counter",
           "Requests for /metrics answered, this one included.");
    sample(out, "troupe_observe_scrapes_total", scrapes);
}
