/* The phi accrual detector (net/phi.h), on made-up arrival times: no clock,
 * no threads, so nothing here depends on the machine's speed. */
#include <criterion/criterion.h>
#include <math.h>

#include "net/phi.h"

#define HB 100u       /* heartbeat, ms */
#define PAUSE 800u    /* acceptable pause */
#define MIN_DEV 25u   /* a quarter heartbeat */
#define THRESHOLD 8.0

/* A detector that has seen `n` heartbeats spaced by gap(i); returns the
 * time of the last. */
static uint64_t feed(tr_phi *d, int n, uint32_t (*gap)(int))
{
    uint64_t t = 1000;
    tr_phi_start(d, t, HB);
    for (int i = 0; i < n; i++) {
        t += gap(i);
        tr_phi_arrival(d, t);
    }
    return t;
}

static uint32_t punctual(int i) { (void)i; return HB; }
static uint32_t irregular(int i) { return i % 2 ? 60 : 540; } /* mean 300, deviation 240 */

/* The first silence at which phi reaches the threshold (1 ms steps). */
static uint64_t detection_ms(const tr_phi *d, uint64_t last)
{
    for (uint64_t s = 0; s < 600000; s++)
        if (tr_phi_value(d, last + s, PAUSE, MIN_DEV) >= THRESHOLD)
            return s;
    cr_assert_fail("never detected");
    return 0;
}

Test(phi, grows_with_silence_from_zero)
{
    tr_phi d;
    uint64_t last = feed(&d, 50, punctual);
    double prev = -1;
    for (uint64_t s = 0; s <= 5000; s += 10) {
        double phi = tr_phi_value(&d, last + s, PAUSE, MIN_DEV);
        cr_assert(phi >= prev, "phi fell from %f to %f at %llu ms", prev, phi, (unsigned long long)s);
        prev = phi;
    }
    cr_assert_lt(tr_phi_value(&d, last + HB, PAUSE, MIN_DEV), 0.01, "a heartbeat's silence is usual");
    cr_assert(tr_phi_value(&d, last + 60000, PAUSE, MIN_DEV) > 100, "a minute is not");
}

Test(phi, punctual_heartbeats_are_judged_by_mean_pause_and_deviation_floor)
{
    tr_phi d;
    uint64_t last = feed(&d, 100, punctual);
    uint64_t at = detection_ms(&d, last);
    /* mean 100 + pause 800 + about 5.2 deviations of the 25 ms floor */
    cr_assert(at > HB + PAUSE + 4 * MIN_DEV && at < HB + PAUSE + 6 * MIN_DEV, "detected after %llu ms",
              (unsigned long long)at);
    cr_assert_lt(tr_phi_value(&d, last + HB + PAUSE, PAUSE, MIN_DEV), 1.0);
}

Test(phi, irregular_heartbeats_get_a_longer_silence_before_down)
{
    tr_phi steady, loaded;
    uint64_t last_steady = feed(&steady, 100, punctual);
    uint64_t last_loaded = feed(&loaded, 100, irregular);
    uint64_t at_steady = detection_ms(&steady, last_steady);
    uint64_t at_loaded = detection_ms(&loaded, last_loaded);
    /* mean 300 + pause 800 + about 5.2 x 240 */
    cr_assert(at_loaded > 300 + PAUSE + 4 * 240 && at_loaded < 300 + PAUSE + 6 * 240, "detected after %llu ms",
              (unsigned long long)at_loaded);
    cr_assert_gt(at_loaded, at_steady + 1000);
    /* a silence that would convict the punctual peer is usual for this one */
    cr_assert_lt(tr_phi_value(&loaded, last_loaded + at_steady, PAUSE, MIN_DEV), 1.0);
}

Test(phi, traffic_between_heartbeats_does_not_shrink_the_spacing)
{
    tr_phi d;
    uint64_t last = feed(&d, 100, punctual);
    uint64_t at = detection_ms(&d, last);
    for (int i = 0; i < 1000; i++) /* a burst: a frame every millisecond */
        tr_phi_arrival(&d, ++last);
    cr_assert_eq(detection_ms(&d, last), at, "gaps under half a heartbeat are not sampled");
}

Test(phi, the_window_forgets_old_spacing)
{
    tr_phi d;
    uint64_t last = feed(&d, 100, irregular);
    for (int i = 0; i < TR_PHI_SAMPLES; i++) {
        last += HB;
        tr_phi_arrival(&d, last);
    }
    tr_phi fresh;
    uint64_t fresh_last = feed(&fresh, 100, punctual);
    cr_assert_eq(detection_ms(&d, last), detection_ms(&fresh, fresh_last));
}

Test(phi, a_new_session_starts_from_the_heartbeat)
{
    tr_phi d;
    tr_phi_start(&d, 5000, HB);
    cr_assert_lt(tr_phi_value(&d, 5000 + HB, PAUSE, MIN_DEV), 0.01);
    cr_assert_geq(tr_phi_value(&d, 5000 + 10 * (HB + PAUSE), PAUSE, MIN_DEV), THRESHOLD);
    cr_assert_eq(tr_phi_value(&d, 4000, PAUSE, MIN_DEV), tr_phi_value(&d, 5000, PAUSE, MIN_DEV),
                 "a clock read before the last arrival is no silence");
    cr_assert(!isnan(tr_phi_value(&d, UINT64_MAX, PAUSE, MIN_DEV)));
}
