/* Sharded live/spawned actor counts; see census.h. */
#include "actors/census.h"

#include "actors/sched.h"
#include "actors/system_impl.h"

static _Atomic uint32_t g_next_outside;
static _Thread_local uint32_t tls_outside; /* 1 + this outside thread's number, 0 = none yet */

static tr_census_shard *my_shard(tr_system *sys)
{
    tr_worker *w = tr_sched_current_worker();
    if (w != NULL && w->sys == sys)
        return &sys->census.shard[w->index % TR_CENSUS_WORKER_SHARDS];
    if (tls_outside == 0)
        tls_outside = 1 + atomic_fetch_add_explicit(&g_next_outside, 1, memory_order_relaxed);
    uint32_t k = (tls_outside - 1) % (TR_CENSUS_SHARDS - TR_CENSUS_WORKER_SHARDS);
    return &sys->census.shard[TR_CENSUS_WORKER_SHARDS + k];
}

void tr_census_spawn(tr_system *sys)
{
    atomic_fetch_add_explicit(&my_shard(sys)->spawned, 1, memory_order_seq_cst);
}

void tr_census_unspawn(tr_system *sys)
{
    atomic_fetch_sub_explicit(&my_shard(sys)->spawned, 1, memory_order_seq_cst);
}

void tr_census_end(tr_system *sys, tr_end_kind kind)
{
    atomic_fetch_add_explicit(&my_shard(sys)->ended[kind], 1, memory_order_seq_cst);
}

void tr_census_ended(tr_system *sys, uint64_t out[TR_END_KINDS])
{
    for (int i = 0; i < TR_CENSUS_SHARDS; i++)
        for (int k = 0; k < TR_END_KINDS; k++)
            out[k] += atomic_load_explicit(&sys->census.shard[i].ended[k], memory_order_seq_cst);
}

uint64_t tr_census_alive(tr_system *sys)
{
    uint64_t by_kind[TR_END_KINDS] = {0};
    tr_census_ended(sys, by_kind);
    uint64_t ended = 0;
    for (int k = 0; k < TR_END_KINDS; k++)
        ended += by_kind[k];
    uint64_t spawned = tr_census_spawned(sys); /* after: see census.h */
    return spawned > ended ? spawned - ended : 0;
}

uint64_t tr_census_spawned(tr_system *sys)
{
    uint64_t sum = 0;
    for (int i = 0; i < TR_CENSUS_SHARDS; i++)
        sum += atomic_load_explicit(&sys->census.shard[i].spawned, memory_order_seq_cst);
    return sum;
}
