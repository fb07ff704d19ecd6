// caf_savina: the same benchmarks as bench/savina/savina.c, on CAF 0.17
// (Debian bookworm's libcaf-dev 0.17.6). Same parameters, same output:
//
//   caf_savina <bench> [--scale S] [--seconds S] [--caf#OPTION=VALUE ...]
//
//   RESULT <bench> <size> <ms>     METRIC <bench> <name> <value>
//
// CAF's own options are taken from the command line (--caf#scheduler.max-threads=2,
// --caf#scheduler.max-throughput=1, ...) and from caf-application.ini as usual;
// every bench prints METRIC <bench> threads <scheduler workers>.
// Build: g++ -O2 -std=c++17 caf_savina.cpp -o caf_savina -lcaf_core -lpthread
// The timed part excludes creating and destroying the actor_system.
// CAF mailboxes are unbounded, so producers send in one loop (as in Savina).
// Every result is checked while the actor system still runs, with a check a
// lost or duplicated message changes (payload sums, counts).
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "caf/all.hpp"

using namespace caf;

using go_atom = atom_constant<atom("go")>;
using ping_atom = atom_constant<atom("ping")>;
using pong_atom = atom_constant<atom("pong")>;
using inc_atom = atom_constant<atom("inc")>;
using get_atom = atom_constant<atom("get")>;
using result_atom = atom_constant<atom("result")>;
using next_atom = atom_constant<atom("next")>;
using token_atom = atom_constant<atom("token")>;
using meet_atom = atom_constant<atom("meet")>;
using change_atom = atom_constant<atom("change")>;
using exit_atom = atom_constant<atom("exit")>;
using count_atom = atom_constant<atom("count")>;
using work_atom = atom_constant<atom("work")>;

namespace {

double g_scale = 1.0;
double g_seconds = 10.0;
int g_failed = 0;

double now_ms() {
  return std::chrono::duration<double, std::milli>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

uint64_t scaled(uint64_t base) {
  double v = static_cast<double>(base) * g_scale + 0.5;
  return v < 1.0 ? 1 : static_cast<uint64_t>(v);
}

void check(const char* bench, const char* what, uint64_t got, uint64_t want) {
  if (got != want) {
    std::printf("CHECK FAILED %s: %s = %llu, expected %llu\n", bench, what,
                (unsigned long long)got, (unsigned long long)want);
    g_failed = 1;
  }
}

void result(const char* bench, uint64_t size, double ms) {
  std::printf("RESULT %s %llu %.3f\n", bench, (unsigned long long)size, ms);
}

void metric(const char* bench, const char* name, double v) {
  std::printf("METRIC %s %s %.3f\n", bench, name, v);
}

// A counter the main thread can block on.
struct latch {
  std::atomic<uint64_t> n{0};
  std::atomic<uint64_t> want{UINT64_MAX};
  std::mutex m;
  std::condition_variable cv;
  void add() {
    uint64_t v = ++n;
    if (v >= want.load()) {
      std::lock_guard<std::mutex> g(m);
      cv.notify_all();
    }
  }
  void wait(uint64_t w) {
    std::unique_lock<std::mutex> l(m);
    want = w;
    cv.wait(l, [&] { return n.load() >= w; });
  }
};

latch g_done;
std::atomic<uint64_t> g_count{0};

volatile double g_sink;
void compute(double theta) {
  double s = std::sin(theta);
  g_sink = s * s;
}

actor sender_of(scheduled_actor* self) {
  return actor_cast<actor>(self->current_sender());
}

// Asks an actor for a figure it keeps in its state (a get_atom handler
// returning uint64_t), from the main thread, while the system still runs.
uint64_t ask_u64(actor_system& sys, const actor& a) {
  scoped_actor self{sys};
  uint64_t v = 0;
  self->request(a, infinite, get_atom::value)
    .receive([&](uint64_t x) { v = x; },
             [&](error& e) {
               std::printf("ask failed: %s\n", sys.render(e).c_str());
               g_failed = 1;
             });
  return v;
}

// ---- pingpong ----

// The pinger sends n, n-1, ..., 1; the ponger sums what it gets and echoes
// it; the pinger checks every echo is the value it sent last.
uint64_t g_pp_bad_echoes = 0;

struct pp_state {
  uint64_t left = 0;
};

struct pong_state {
  uint64_t sum = 0;
};

behavior ponger(stateful_actor<pong_state>* self) {
  return {
    [=](ping_atom, uint64_t v) {
      g_count.fetch_add(1, std::memory_order_relaxed);
      self->state.sum += v;
      self->send(sender_of(self), pong_atom::value, v);
    },
    [=](get_atom) -> uint64_t { return self->state.sum; },
  };
}

behavior pinger(stateful_actor<pp_state>* self, actor pong, uint64_t n) {
  self->state.left = n;
  return {
    [=](go_atom) { self->send(pong, ping_atom::value, self->state.left); },
    [=](pong_atom, uint64_t v) {
      if (v != self->state.left)
        g_pp_bad_echoes++;
      if (--self->state.left == 0) {
        g_done.add();
        self->quit();
        return;
      }
      self->send(pong, ping_atom::value, self->state.left);
    },
  };
}

void bench_pingpong(actor_system& sys) {
  uint64_t n = scaled(40000);
  double t0 = now_ms();
  auto pong = sys.spawn(ponger);
  auto ping = sys.spawn(pinger, pong, n);
  anon_send(ping, go_atom::value);
  g_done.wait(1);
  double ms = now_ms() - t0;
  check("pingpong", "pings", g_count.load(), n);
  check("pingpong", "sum of ping values", ask_u64(sys, pong), n * (n + 1) / 2);
  check("pingpong", "echoes not matching the ping", g_pp_bad_echoes, 0);
  anon_send_exit(pong, exit_reason::user_shutdown);
  sys.await_all_actors_done();
  result("pingpong", n, ms);
  metric("pingpong", "msgs_per_s", 2.0 * n / (ms / 1e3));
}

// ---- counting ----

uint64_t g_counted = 0;

struct count_state {
  uint64_t count = 0;
};

behavior counter_actor(stateful_actor<count_state>* self) {
  return {
    [=](inc_atom) { self->state.count++; },
    [=](get_atom) { self->send(sender_of(self), result_atom::value, self->state.count); },
  };
}

behavior producer(event_based_actor* self, actor counter, uint64_t n) {
  return {
    [=](go_atom) {
      for (uint64_t i = 0; i < n; i++)
        self->send(counter, inc_atom::value);
      self->send(counter, get_atom::value);
    },
    [=](result_atom, uint64_t v) {
      g_counted = v;
      g_done.add();
      self->quit();
    },
  };
}

void bench_counting(actor_system& sys) {
  uint64_t n = scaled(1000000);
  double t0 = now_ms();
  auto c = sys.spawn(counter_actor);
  auto p = sys.spawn(producer, c, n);
  anon_send(p, go_atom::value);
  g_done.wait(1);
  double ms = now_ms() - t0;
  anon_send_exit(c, exit_reason::user_shutdown);
  sys.await_all_actors_done();
  check("counting", "count", g_counted, n);
  result("counting", n, ms);
  metric("counting", "msgs_per_s", n / (ms / 1e3));
}

// ---- threadring ----

struct ring_state {
  actor next;
};

behavior ring_node(stateful_actor<ring_state>* self) {
  return {
    [=](next_atom, actor next) { self->state.next = next; },
    [=](token_atom, uint64_t hops) {
      g_count.fetch_add(1, std::memory_order_relaxed);
      if (hops == 0) {
        g_done.add();
        return;
      }
      self->send(self->state.next, token_atom::value, hops - 1);
    },
  };
}

void bench_threadring(actor_system& sys) {
  const unsigned nactors = 100;
  uint64_t hops = scaled(100000);
  double t0 = now_ms();
  std::vector<actor> refs;
  for (unsigned i = 0; i < nactors; i++)
    refs.push_back(sys.spawn(ring_node));
  for (unsigned i = 0; i < nactors; i++)
    anon_send(refs[i], next_atom::value, refs[(i + 1) % nactors]);
  anon_send(refs[0], token_atom::value, hops);
  g_done.wait(1);
  double ms = now_ms() - t0;
  for (auto& r : refs)
    anon_send_exit(r, exit_reason::user_shutdown);
  refs.clear();
  sys.await_all_actors_done();
  check("threadring", "token receptions", g_count.load(), hops + 1);
  result("threadring", hops, ms);
  metric("threadring", "msgs_per_s", hops / (ms / 1e3));
}

// ---- chameneos ----

enum { RED, YELLOW, BLUE, FADED };

int complement(int a, int b) { return a == b ? a : 3 - a - b; }

uint64_t g_meetings_sum = 0;

struct mall_state {
  uint64_t left = 0, sum = 0;
  unsigned faded = 0;
  actor waiting;
};

behavior mall(stateful_actor<mall_state>* self, uint64_t meetings, unsigned ncham) {
  self->state.left = meetings;
  return {
    [=](meet_atom, int color, actor who) {
      auto& s = self->state;
      if (s.left > 0) {
        if (!s.waiting) {
          s.waiting = who;
          return;
        }
        s.left--;
        self->send(s.waiting, meet_atom::value, color, who);
        s.waiting = actor{};
        return;
      }
      self->send(who, exit_atom::value);
    },
    [=](count_atom, uint64_t m) {
      auto& s = self->state;
      s.sum += m;
      if (++s.faded == ncham) {
        g_meetings_sum = s.sum;
        g_done.add();
        self->quit();
      }
    },
  };
}

struct cham_state {
  int color = 0;
  uint64_t meetings = 0;
};

behavior chameneo(stateful_actor<cham_state>* self, actor the_mall, int color) {
  self->state.color = color;
  self->send(the_mall, meet_atom::value, color, actor_cast<actor>(self));
  return {
    [=](meet_atom, int other_color, actor other) {
      auto& s = self->state;
      s.color = complement(s.color, other_color);
      s.meetings++;
      self->send(other, change_atom::value, s.color);
      self->send(the_mall, meet_atom::value, s.color, actor_cast<actor>(self));
    },
    [=](change_atom, int c) {
      auto& s = self->state;
      s.color = c;
      s.meetings++;
      self->send(the_mall, meet_atom::value, s.color, actor_cast<actor>(self));
    },
    [=](exit_atom) {
      self->state.color = FADED;
      self->send(the_mall, count_atom::value, self->state.meetings);
      self->quit();
    },
  };
}

void bench_chameneos(actor_system& sys) {
  const unsigned ncham = 100;
  uint64_t meetings = scaled(200000);
  double t0 = now_ms();
  auto m = sys.spawn(mall, meetings, ncham);
  for (unsigned i = 0; i < ncham; i++)
    sys.spawn(chameneo, m, static_cast<int>(i % 3));
  g_done.wait(1);
  double ms = now_ms() - t0;
  sys.await_all_actors_done();
  check("chameneos", "sum of meetings", g_meetings_sum, 2 * meetings);
  result("chameneos", meetings, ms);
}

// ---- fork-join throughput ----

// Each worker sums the round numbers it is sent (0 .. msgs-1) and reports the
// sum when it has had msgs messages.
struct fjt_state {
  uint64_t got = 0, sum = 0;
};

behavior fjt_worker(stateful_actor<fjt_state>* self, uint64_t msgs) {
  return {[=](work_atom, uint64_t round) {
    compute(37.2);
    self->state.sum += round;
    if (++self->state.got == msgs) {
      g_count.fetch_add(self->state.sum, std::memory_order_relaxed);
      g_done.add();
      self->quit();
    }
  }};
}

behavior fjt_driver(event_based_actor* self, std::vector<actor>* workers, uint64_t msgs) {
  return {[=](go_atom) {
    for (uint64_t m = 0; m < msgs; m++)
      for (auto& w : *workers)
        self->send(w, work_atom::value, m);
    self->quit();
  }};
}

void bench_fjthrput(actor_system& sys) {
  const unsigned nworkers = 60;
  uint64_t msgs = scaled(10000);
  double t0 = now_ms();
  std::vector<actor> workers;
  for (unsigned i = 0; i < nworkers; i++)
    workers.push_back(sys.spawn(fjt_worker, msgs));
  auto d = sys.spawn(fjt_driver, &workers, msgs);
  anon_send(d, go_atom::value);
  g_done.wait(nworkers);
  double ms = now_ms() - t0;
  uint64_t total = msgs * nworkers;
  check("fjthrput", "sum of round numbers", g_count.load(), nworkers * (msgs * (msgs - 1) / 2));
  workers.clear();
  sys.await_all_actors_done();
  result("fjthrput", msgs, ms);
  metric("fjthrput", "msgs_per_s", total / (ms / 1e3));
}

// ---- fork-join create ----

behavior fjc_worker(event_based_actor* self) {
  return {[=](work_atom) {
    compute(37.2);
    g_count.fetch_add(1, std::memory_order_relaxed);
    g_done.add();
    self->quit();
  }};
}

// Savina's main creates the workers; here too (spawning all 40,000 from one
// actor's handler puts them all in one worker's queue, which the other CAF
// worker then steals one at a time: much slower on 2 cores).
void bench_fjcreate(actor_system& sys) {
  uint64_t n = scaled(40000);
  double t0 = now_ms();
  for (uint64_t i = 0; i < n; i++)
    anon_send(sys.spawn(fjc_worker), work_atom::value);
  g_done.wait(n);
  double ms = now_ms() - t0;
  sys.await_all_actors_done();
  check("fjcreate", "workers run", g_count.load(), n);
  result("fjcreate", n, ms);
  metric("fjcreate", "actors_per_s", n / (ms / 1e3));
}

// ---- big ----

std::vector<actor> g_peers;

struct big_state {
  uint64_t rng = 0, pongs = 0, pings_seen = 0;
};

uint64_t xorshift(uint64_t& s) {
  uint64_t x = s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return s = x;
}

behavior big_actor(stateful_actor<big_state>* self, unsigned id, uint64_t pings) {
  self->state.rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(id + 1) * 0xBF58476D1CE4E5B9ull;
  auto ping_random = [=] {
    auto& to = g_peers[xorshift(self->state.rng) % g_peers.size()];
    self->send(to, ping_atom::value);
  };
  return {
    [=](ping_atom) {
      self->state.pings_seen++;
      self->send(sender_of(self), pong_atom::value);
    },
    [=](get_atom) -> uint64_t { return self->state.pings_seen; },
    [=](pong_atom) {
      if (++self->state.pongs == pings) {
        g_done.add();
        return;
      }
      ping_random();
    },
    [=](go_atom) { ping_random(); },
  };
}

void bench_big(actor_system& sys) {
  const unsigned n = 120;
  uint64_t pings = scaled(20000);
  double t0 = now_ms();
  for (unsigned i = 0; i < n; i++)
    g_peers.push_back(sys.spawn(big_actor, i, pings));
  for (auto& p : g_peers)
    anon_send(p, go_atom::value);
  g_done.wait(n);
  double ms = now_ms() - t0;
  uint64_t seen = 0;
  for (auto& p : g_peers)
    seen += ask_u64(sys, p);
  check("big", "pings handled", seen, pings * n);
  for (auto& p : g_peers)
    anon_send_exit(p, exit_reason::user_shutdown);
  g_peers.clear();
  sys.await_all_actors_done();
  result("big", pings, ms);
  metric("big", "msgs_per_s", 2.0 * pings * n / (ms / 1e3));
}

// ---- skynet ----

uint64_t g_sky_sum = 0;

struct sky_state {
  uint64_t sum = 0;
  unsigned got = 0;
};

behavior sky(stateful_actor<sky_state>* self, uint64_t num, uint64_t size, actor parent) {
  g_count.fetch_add(1, std::memory_order_relaxed);
  if (size == 1) {
    self->send(parent, result_atom::value, num);
    self->quit();
    return {};
  }
  uint64_t sub = size / 10;
  for (uint64_t i = 0; i < 10; i++)
    self->spawn(sky, num + i * sub, sub, actor_cast<actor>(self));
  return {[=](result_atom, uint64_t v) {
    auto& s = self->state;
    s.sum += v;
    if (++s.got < 10)
      return;
    if (parent)
      self->send(parent, result_atom::value, s.sum);
    else {
      g_sky_sum = s.sum;
      g_done.add();
    }
    self->quit();
  }};
}

void bench_skynet(actor_system& sys) {
  long levels = std::lround(6.0 + std::log10(g_scale));
  if (levels < 1)
    levels = 1;
  uint64_t leaves = 1, actors = 0;
  for (long i = 0; i < levels; i++) {
    actors += leaves;
    leaves *= 10;
  }
  actors += leaves;
  double t0 = now_ms();
  sys.spawn(sky, uint64_t{0}, leaves, actor{});
  g_done.wait(1);
  double ms = now_ms() - t0;
  sys.await_all_actors_done();
  std::printf("skynet sum %llu\n", (unsigned long long)g_sky_sum);
  check("skynet", "sum", g_sky_sum, leaves * (leaves - 1) / 2);
  check("skynet", "actors", g_count.load(), actors);
  result("skynet", leaves, ms);
  metric("skynet", "actors", (double)actors);
}

// ---- idle ----

double cpu_ms() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

behavior idle_actor(event_based_actor*) {
  g_done.add();
  return {[](ping_atom) {}};
}

void bench_idle(actor_system& sys) {
  const uint64_t n = 10000;
  std::vector<actor> refs;
  for (uint64_t i = 0; i < n; i++)
    refs.push_back(sys.spawn(idle_actor));
  g_done.wait(n);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  uint64_t alive = sys.registry().running();
  double c0 = cpu_ms(), t0 = now_ms();
  std::this_thread::sleep_for(std::chrono::duration<double>(g_seconds));
  double cpu = cpu_ms() - c0, wall = now_ms() - t0;
  for (auto& r : refs)
    anon_send_exit(r, exit_reason::user_shutdown);
  refs.clear();
  sys.await_all_actors_done();
  check("idle", "actors alive", alive, n);
  double pct = 100.0 * cpu / wall;
  result("idle", n, cpu);
  metric("idle", "wall_ms", wall);
  metric("idle", "pct_core", pct);
  std::printf("idle: %.3f%% of one core (target < 1%%: %s)\n", pct, pct < 1.0 ? "met" : "NOT met");
}

// ---- spawn + complete ----

long maxrss_kb() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Each actor adds its index to a sum as it runs, then ends (a function-based
// actor returning no behaviour). A driver actor spawns them, SPAWN_CHUNK per
// turn, and sends itself `next` between turns; with max-throughput 1 (set for
// the spawn benches unless given on the command line) the driver goes to the
// back of its worker's queue after each turn, so the spawned actors run in
// between instead of piling up (spawning 1M from the main thread without
// flow control makes a stealing CAF 0.17 worker walk a long queue under its
// lock: 4 to 98 s).
constexpr uint64_t spawn_chunk = 1000;
std::atomic<uint64_t> g_index_sum{0};

void exit_at_once(event_based_actor*, uint64_t index) {
  g_index_sum.fetch_add(index, std::memory_order_relaxed);
  g_count.fetch_add(1, std::memory_order_relaxed);
}

struct spawn_driver_state {
  uint64_t spawned = 0;
};

behavior spawn_driver(stateful_actor<spawn_driver_state>* self, uint64_t n) {
  return {[=](next_atom) {
    auto& i = self->state.spawned;
    for (uint64_t k = 0; k < spawn_chunk && i < n; k++, i++)
      self->spawn(exit_at_once, i);
    if (i < n)
      self->send(self, next_atom::value);
    else
      self->quit();
  }};
}

void bench_spawn(actor_system& sys) {
  uint64_t n = scaled(1000000);
  long rss0 = maxrss_kb();
  double t0 = now_ms();
  anon_send(sys.spawn(spawn_driver, n), next_atom::value);
  sys.await_all_actors_done();
  double ms = now_ms() - t0;
  long rss1 = maxrss_kb();
  check("spawn", "actors run", g_count.load(), n);
  check("spawn", "sum of the actors' indices", g_index_sum.load(), n * (n - 1) / 2);
  result("spawn", n, ms);
  metric("spawn", "ns_per_actor", ms * 1e6 / n);
  metric("spawn", "peak_rss_mb", rss1 / 1024.0);
  metric("spawn", "bytes_per_actor", (rss1 - rss0) * 1024.0 / n);
}

// ---- spawn, one message each, reply ----

// The driver spawns SPAWN_CHUNK actors per turn (as above) and sends each its
// index; each replies with it and ends; the driver sums the replies.
behavior smsg_worker(event_based_actor* self) {
  return {[=](work_atom, uint64_t i) {
    self->send(sender_of(self), result_atom::value, i);
    self->quit();
  }};
}

struct smsg_state {
  uint64_t spawned = 0, replies = 0, sum = 0;
};

uint64_t g_smsg_sum = 0, g_smsg_replies = 0;

behavior smsg_driver(stateful_actor<smsg_state>* self, uint64_t n) {
  return {
    [=](next_atom) {
      auto& s = self->state;
      for (uint64_t k = 0; k < spawn_chunk && s.spawned < n; k++, s.spawned++)
        self->send(self->spawn(smsg_worker), work_atom::value, s.spawned);
      if (s.spawned < n)
        self->send(self, next_atom::value);
    },
    [=](result_atom, uint64_t i) {
      auto& s = self->state;
      s.sum += i;
      if (++s.replies == n) {
        g_smsg_sum = s.sum;
        g_smsg_replies = s.replies;
        g_done.add();
        self->quit();
      }
    },
  };
}

void bench_spawnmsg(actor_system& sys) {
  uint64_t n = scaled(1000000);
  long rss0 = maxrss_kb();
  double t0 = now_ms();
  anon_send(sys.spawn(smsg_driver, n), next_atom::value);
  g_done.wait(1);
  double ms = now_ms() - t0;
  long rss1 = maxrss_kb();
  check("spawnmsg", "replies", g_smsg_replies, n);
  check("spawnmsg", "sum of the replies", g_smsg_sum, n * (n - 1) / 2);
  sys.await_all_actors_done();
  result("spawnmsg", n, ms);
  metric("spawnmsg", "ns_per_actor", ms * 1e6 / n);
  metric("spawnmsg", "peak_rss_mb", rss1 / 1024.0);
  metric("spawnmsg", "bytes_per_actor", (rss1 - rss0) * 1024.0 / n);
}

// ---- cancel a tree ----

// Counted by every actor of the tree, on every worker: one cache line per
// thread, as the Troupe bench counts, so the count does not bounce a line
// between the cores on every start and end.
struct sharded {
  static constexpr int shards = 16;
  struct alignas(64) shard {
    std::atomic<uint64_t> n{0};
  };
  shard s[shards];
  void add() {
    static std::atomic<unsigned> next{0};
    thread_local unsigned mine = next.fetch_add(1) % shards;
    s[mine].n.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t load() const {
    uint64_t n = 0;
    for (const auto& x : s)
      n += x.n.load();
    return n;
  }
};

sharded g_started, g_ended;

struct tree_state {
  std::vector<actor> children;  // CAF ends unreferenced actors: keep the tree alive
};

behavior tree_node(stateful_actor<tree_state>* self, unsigned depth, unsigned width) {
  g_started.add();
  self->attach_functor([] { g_ended.add(); });
  if (depth > 0) {
    self->state.children.reserve(width);
    for (unsigned i = 0; i < width; i++)
      self->state.children.push_back(self->spawn<linked>(tree_node, depth - 1, width));
  }
  return {[](ping_atom) {}};
}

void bench_cancel(actor_system& sys) {
  unsigned w = static_cast<unsigned>(std::lround(100.0 * std::cbrt(g_scale)));
  if (w < 2)
    w = 2;
  uint64_t expected = 1 + w + (uint64_t)w * w + (uint64_t)w * w * w;
  long rss0 = maxrss_kb();
  double b0 = now_ms();
  auto root = sys.spawn(tree_node, 3u, w);
  while (g_started.load() < expected)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  double build_ms = now_ms() - b0;
  long rss1 = maxrss_kb();
  check("cancel", "actors started", g_started.load(), expected);
  check("cancel", "actors ended before the cancel", g_ended.load(), 0);
  double t0 = now_ms();
  anon_send_exit(root, exit_reason::user_shutdown);
  while (g_ended.load() < expected)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  double ms = now_ms() - t0;
  check("cancel", "actors ended by the cancel", g_ended.load(), expected);
  sys.await_all_actors_done();
  result("cancel", expected, ms);
  metric("cancel", "ns_per_actor", ms * 1e6 / expected);
  metric("cancel", "build_ms", build_ms);
  metric("cancel", "bytes_per_actor", (rss1 - rss0) * 1024.0 / expected);
}

// ---- memory per idle actor ----

// Resident memory now (VmRSS), in bytes.
double rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * sysconf(_SC_PAGESIZE);
}

// N idle actors alive at once, each started (it counts itself in its init).
// The main thread spawns 1,000 at a time and waits for them to start, so the
// workers' queues stay short; it keeps each handle (8 bytes per actor, in
// the figure), as CAF ends unreferenced actors.
void bench_mem(actor_system& sys) {
  uint64_t n = scaled(1000000);
  std::vector<actor> refs;
  refs.reserve(n);
  double rss0 = rss_bytes();
  double t0 = now_ms();
  for (uint64_t i = 0; i < n; i++) {
    refs.push_back(sys.spawn(idle_actor));
    if ((i + 1) % 1000 == 0)
      g_done.wait(i + 1);
  }
  g_done.wait(n);
  double ms = now_ms() - t0;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  double rss1 = rss_bytes();
  check("mem", "actors alive", sys.registry().running(), n);
  for (auto& r : refs)
    anon_send_exit(r, exit_reason::user_shutdown);
  refs.clear();
  sys.await_all_actors_done();
  result("mem", n, ms);
  metric("mem", "bytes_per_actor", (rss1 - rss0) / n);
  metric("mem", "rss_mb", rss1 / 1048576.0);
  metric("mem", "peak_rss_mb", maxrss_kb() / 1024.0);
}

struct bench_entry {
  const char* name;
  void (*run)(actor_system&);
};

const bench_entry benches[] = {
  {"pingpong", bench_pingpong}, {"counting", bench_counting}, {"threadring", bench_threadring},
  {"chameneos", bench_chameneos}, {"fjthrput", bench_fjthrput}, {"fjcreate", bench_fjcreate},
  {"big", bench_big},           {"skynet", bench_skynet},     {"idle", bench_idle},
  {"spawn", bench_spawn},       {"spawnmsg", bench_spawnmsg}, {"cancel", bench_cancel},
  {"mem", bench_mem},
};

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: caf_savina <bench> [--scale S] [--seconds S] "
                       "[--caf#OPTION=VALUE ...]\n");
  std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    usage();
  std::vector<std::string> caf_args;
  for (int i = 2; i < argc; i++) {
    if (i + 1 < argc && std::strcmp(argv[i], "--scale") == 0)
      g_scale = std::strtod(argv[++i], nullptr);
    else if (i + 1 < argc && std::strcmp(argv[i], "--seconds") == 0)
      g_seconds = std::strtod(argv[++i], nullptr);
    else if (std::strncmp(argv[i], "--caf#", 6) == 0 ||
             std::strncmp(argv[i], "--config-file=", 14) == 0)
      caf_args.emplace_back(argv[i]);
    else
      usage();
  }
  if (!(g_scale > 0.0) || !(g_seconds > 0.0))
    usage();
  for (auto& b : benches)
    if (std::strcmp(argv[1], b.name) == 0) {
      {
        actor_system_config cfg;
        // the spawn drivers need the driver to yield after each turn (see
        // bench_spawn); the command line can still override it
        if (std::strncmp(b.name, "spawn", 5) == 0)
          cfg.set("scheduler.max-throughput", size_t{1});
        if (auto err = cfg.parse(caf_args)) {
          std::fprintf(stderr, "caf_savina: bad CAF option: %s\n",
                       actor_system_config::render(err).c_str());
          return 2;
        }
        actor_system sys{cfg};
        metric(b.name, "threads", static_cast<double>(sys.scheduler().num_workers()));
        b.run(sys);
      }
      std::fflush(stdout);
      return g_failed ? 1 : 0;
    }
  usage();
}
