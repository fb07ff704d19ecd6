/* The phi accrual failure detector (phi.h). The normal distribution's
 * tail is the logistic approximation Akka uses (Bowling et al., 2009;
 * PhiAccrualFailureDetector.scala): phi = -log10(e / (1 + e)) with
 * e = exp(-y (1.5976 + 0.070566 y^2)), y the silence past the mean (plus
 * the acceptable pause) in deviations. Written here: a dozen lines of
 * arithmetic, no library offers it in C. */
#include "net/phi.h"

#include <math.h>
#include <string.h>

#define GAP_MAX_MS 3600000u /* one sample can move the mean this much at most (sum_sq cannot overflow) */

static void add_gap(tr_phi *d, uint32_t gap)
{
    if (gap > GAP_MAX_MS)
        gap = GAP_MAX_MS;
    if (d->n == TR_PHI_SAMPLES) {
        uint32_t old = d->gap_ms[d->next];
        d->sum -= old;
        d->sum_sq -= (uint64_t)old * old;
    } else {
        d->n++;
    }
    d->gap_ms[d->next] = gap;
    d->next = (d->next + 1) % TR_PHI_SAMPLES;
    d->sum += gap;
    d->sum_sq += (uint64_t)gap * gap;
}

void tr_phi_start(tr_phi *d, uint64_t now_ms, uint32_t heartbeat_ms)
{
    memset(d, 0, sizeof(*d));
    d->last_ms = now_ms;
    d->min_gap_ms = heartbeat_ms / 2;
    add_gap(d, heartbeat_ms - heartbeat_ms / 4);
    add_gap(d, heartbeat_ms + heartbeat_ms / 4);
}

void tr_phi_arrival(tr_phi *d, uint64_t now_ms)
{
    if (now_ms <= d->last_ms)
        return;
    uint64_t gap = now_ms - d->last_ms;
    d->last_ms = now_ms;
    if (gap >= d->min_gap_ms)
        add_gap(d, gap > GAP_MAX_MS ? GAP_MAX_MS : (uint32_t)gap);
}

double tr_phi_value(const tr_phi *d, uint64_t now_ms, uint32_t pause_ms, uint32_t min_dev_ms)
{
    if (d->n == 0)
        return 0;
    double silence = now_ms > d->last_ms ? (double)(now_ms - d->last_ms) : 0;
    double mean = (double)d->sum / d->n;
    double var = (double)d->sum_sq / d->n - mean * mean;
    double dev = var > 0 ? sqrt(var) : 0;
    if (dev < min_dev_ms)
        dev = min_dev_ms > 0 ? min_dev_ms : 1;
    double past = mean + pause_ms;
    double y = (silence - past) / dev;
    double e = exp(-y * (1.5976 + 0.070566 * y * y));
    if (silence > past)
        return -log10(e / (1.0 + e));
    return -log10(1.0 - 1.0 / (1.0 + e));
}
