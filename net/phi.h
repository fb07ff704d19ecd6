/* Failure detection from the arrival times of a peer's frames: the phi
 * accrual detector (Hayashibara et al., 2004), as Akka and Cassandra use.
 *
 * Instead of a fixed silence, it keeps the recent spacing of the peer's
 * frames (the last TR_PHI_SAMPLES gaps of at least half a heartbeat: the
 * spacing of an idle link's heartbeats; shorter gaps are traffic and say
 * nothing about it) and turns the current silence into phi = -log10 of
 * the probability that a live peer would be silent that long, with the
 * gaps taken as normally distributed around their mean plus an acceptable
 * pause, their deviation at least a floor. phi 8 means one chance in 10^8.
 * So a peer whose heartbeats arrive late and irregularly (a loaded machine,
 * a pausing garbage collector, a slow link) gets a longer silence before
 * it is declared down than one whose heartbeats are punctual, and a peer
 * whose link closes is down at once anyway (session.c). */
#ifndef TROUPE_NET_PHI_H
#define TROUPE_NET_PHI_H

#include <stdint.h>

#define TR_PHI_SAMPLES 64

typedef struct tr_phi {
    uint32_t gap_ms[TR_PHI_SAMPLES]; /* a ring of the last gaps */
    uint32_t n, next;                /* gaps held, where the next goes */
    uint64_t sum, sum_sq;            /* of the gaps held */
    uint64_t last_ms;                /* the last arrival */
    uint32_t min_gap_ms;             /* shorter gaps are not sampled */
} tr_phi;

/* Starts the history of a session that begins at now_ms with heartbeats
 * every heartbeat_ms: as Akka does, two gaps around the heartbeat (mean
 * heartbeat_ms, deviation a quarter of it) until real ones come. */
void tr_phi_start(tr_phi *d, uint64_t now_ms, uint32_t heartbeat_ms);

/* A frame arrived at now_ms. */
void tr_phi_arrival(tr_phi *d, uint64_t now_ms);

/* phi at now_ms: 0 (the silence is usual) and up; grows without bound
 * with the silence (infinity once the probability underflows). pause_ms:
 * the silence accepted on top of the usual spacing (Akka's
 * acceptable-heartbeat-pause); min_dev_ms: the floor of the deviation. */
double tr_phi_value(const tr_phi *d, uint64_t now_ms, uint32_t pause_ms, uint32_t min_dev_ms);

#endif
