/* A five-host cluster (Linux network namespaces on a bridge, as
 * tests/chaos/chaos.sh builds them; one node_proc per host, driven through
 * stdin/stdout) that forms and heals itself:
 *
 *   formation through one seed URL (every node names n1 only), kill -9 of
 *   n3 and its restart (new incarnation, names n1 only), SIGSTOP/SIGCONT of
 *   n4, a two-way partition {n1,n2} | {n3,n4,n5} (iptables inside the
 *   namespaces) and its heal, a second node called n2 (refused), and n5
 *   leaving gracefully.
 *
 * After each step every node's view converges (node_proc's "await": the
 * member listing and the last node event agree) and every node has seen
 * exactly one NODE_UP and one NODE_DOWN per transition of every other node:
 * the test keeps the expected counts per observer and subject and checks
 * all of them after each step. Synchronisation is on those answers; the
 * waits are generous deadlines, never asserted timings.
 *
 * Skipped with a reason without `ip`, `iptables` or the permission to
 * create namespaces; under CI (root) a skip is a failure. This test
 * process runs no node itself (see test_netns.c). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>

#include "tests/net/procs.h"
#include "tests/support/skip.h"

#define N 5 /* hosts n1..n5 are index 0..4 */

static child host[N], impostor;
static char ns[N][32], hub[32];
static bool made;

/* ups and downs each node has seen of each other node (since it started) */
static struct { unsigned ups, downs; } expect[N][N];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void ip4(int i, char *out, size_t len) { snprintf(out, len, "10.214.0.%d", 11 + i); }

static void cleanup(void)
{
    for (int i = 0; i < N; i++) {
        if (host[i].pid > 0)
            kill(host[i].pid, SIGCONT);
        child_kill(&host[i]);
    }
    child_kill(&impostor);
    if (!made)
        return;
    made = false;
    for (int i = 0; i < N; i++)
        sh("ip netns del %s 2>/dev/null", ns[i]);
    sh("ip netns del %s 2>/dev/null", hub);
}

static void network_create(void)
{
    if (sh("command -v ip >/dev/null 2>&1") != 0)
        tr_test_skip("the ip command (iproute2) is not installed");
    if (sh("command -v iptables >/dev/null 2>&1") != 0)
        tr_test_skip("iptables is not installed (scripts/deps.sh installs it)");
    int pid = (int)getpid();
    snprintf(hub, sizeof(hub), "trc%d-hub", pid);
    for (int i = 0; i < N; i++)
        snprintf(ns[i], sizeof(ns[i]), "trc%d-n%d", pid, i + 1);
    atexit(cleanup);
    if (sh("ip netns add %s 2>/dev/null", hub) != 0)
        tr_test_skip("cannot create network namespaces (needs root or CAP_NET_ADMIN)");
    made = true;
    int rc = sh("set -e; ip -n %s link add br0 type bridge; ip -n %s link set br0 up", hub, hub);
    for (int i = 0; i < N && rc == 0; i++) {
        char addr[32];
        ip4(i, addr, sizeof(addr));
        rc = sh("set -e; ip netns add %s; ip link add trc%d-v%d netns %s type veth peer name v%d netns %s; "
                "ip -n %s link set v%d master br0 up; ip -n %s addr add %s/24 dev trc%d-v%d; "
                "ip -n %s link set trc%d-v%d up; ip -n %s link set lo up",
                ns[i], pid, i, ns[i], i, hub, hub, i, ns[i], addr, pid, i, ns[i], pid, i, ns[i]);
    }
    if (rc != 0) {
        cleanup();
        tr_test_skip("cannot build the bridged namespaces (exit %d)", rc);
    }
}

static const char *cmd(child *c, const char *line, const char *answer)
{
    static char rest[512];
    cr_assert(child_say(c, line), "cannot write \"%s\"", line);
    cr_assert(child_expect(c, answer, rest, sizeof(rest), 2 * PROC_WAIT_MS), "no %s after \"%s\"", answer, line);
    return rest;
}

static void seed_url(char *out, size_t len)
{
    char addr[32];
    ip4(0, addr, sizeof(addr));
    snprintf(out, len, "tcp://%s:7000", addr);
}

/* Starts node n<i+1> on its host, listening on port 7000, and (i > 0)
 * connects it to n1 only. */
static void node_start(int i)
{
    const char *in_ns[] = {"ip", "netns", "exec", ns[i], NULL};
    /* down=2500: a loaded machine (sanitizers, 5 processes) must not see
     * spurious silences, which would add transitions */
    const char *opts[] = {"down=2500", "hb=100", "life=280", NULL};
    char name[16], addr[32], url[64], bound[256], line[128];
    snprintf(name, sizeof(name), "n%d", i + 1);
    ip4(i, addr, sizeof(addr));
    snprintf(url, sizeof(url), "tcp://%s:7000", addr);
    proc_start(&host[i], in_ns, name, url, opts, bound, sizeof(bound));
    cr_assert_str_eq(bound, url);
    memset(expect[i], 0, sizeof(expect[i]));
    if (i > 0) {
        char seed[64];
        seed_url(seed, sizeof(seed));
        snprintf(line, sizeof(line), "connect %s", seed);
        cr_assert_str_eq(cmd(&host[i], line, "CONNECTED"), "0", "n%d joins through n1", i + 1);
    }
}

/* Every node in `who` (a bitmask) waits until each node in `subjects` is
 * in state s (U, D, L) in its view. */
static void await(unsigned who, char s, unsigned subjects)
{
    for (int i = 0; i < N; i++) {
        if (!(who & (1u << i)))
            continue;
        char line[128];
        int used = snprintf(line, sizeof(line), "await %c ", s);
        bool any = false;
        for (int j = 0; j < N; j++) {
            if (j == i || !(subjects & (1u << j)))
                continue;
            used += snprintf(line + used, sizeof(line) - (size_t)used, "%sn%d", any ? "," : "", j + 1);
            any = true;
        }
        if (any)
            cr_assert_str_eq(cmd(&host[i], line, "AWAITED"), "0", "n%d: %s", i + 1, line);
    }
}

/* Counts one transition of `subject` seen by every node in `who`. */
static void saw(unsigned who, int subject, bool up)
{
    for (int i = 0; i < N; i++)
        if ((who & (1u << i)) && i != subject) {
            expect[i][subject].ups += up;
            expect[i][subject].downs += !up;
        }
}

/* Every node in `who` has seen exactly the expected events of every
 * other node; `reason`: the last DOWN reason of `subject` (or -1). */
static void check_events(unsigned who, int subject, int reason)
{
    for (int i = 0; i < N; i++) {
        if (!(who & (1u << i)))
            continue;
        for (int j = 0; j < N; j++) {
            if (j == i)
                continue;
            char line[32], want[64];
            snprintf(line, sizeof(line), "events n%d", j + 1);
            const char *got = cmd(&host[i], line, "EVENTS");
            unsigned ups = 0, downs = 0;
            int last = 0;
            cr_assert_eq(sscanf(got, "%u %u %d", &ups, &downs, &last), 3, "%s", got);
            snprintf(want, sizeof(want), "%u up, %u down", expect[i][j].ups, expect[i][j].downs);
            cr_assert(ups == expect[i][j].ups && downs == expect[i][j].downs,
                      "n%d saw n%d: %u up, %u down; expected %s", i + 1, j + 1, ups, downs, want);
            if (j == subject && reason >= 0)
                cr_assert_eq(last, reason, "n%d: n%d's last down reason", i + 1, j + 1);
        }
    }
}

#define ALL ((1u << N) - 1)
#define BIT(i) (1u << (i))

static void partition(bool cut)
{
    for (int i = 0; i < N; i++) {
        if (!cut) {
            cr_assert_eq(sh("ip netns exec %s iptables -F INPUT", ns[i]), 0);
            continue;
        }
        for (int j = 0; j < N; j++) {
            if ((i < 2) == (j < 2))
                continue;
            char addr[32];
            ip4(j, addr, sizeof(addr));
            cr_assert_eq(sh("ip netns exec %s iptables -A INPUT -s %s -j DROP", ns[i], addr), 0);
        }
    }
}

Test(cluster, forms_heals_and_refuses_duplicates, .timeout = 280)
{
    network_create();
    for (int i = 0; i < N; i++)
        node_start(i);
    /* formation: each named n1 only; all see all */
    await(ALL, 'U', ALL);
    for (int j = 0; j < N; j++)
        saw(ALL, j, true);
    check_events(ALL, -1, -1);

    /* kill -9: the closed connection is the signal (TR_ENODEDOWN) */
    child_kill(&host[2]);
    unsigned others = ALL & ~BIT(2);
    await(others, 'D', BIT(2));
    saw(others, 2, false);
    check_events(others, 2, TR_ENODEDOWN);
    /* restarted with its documented command: a new incarnation, through n1 */
    node_start(2);
    await(ALL, 'U', ALL);
    saw(others, 2, true);
    for (int j = 0; j < N; j++)
        saw(BIT(2), j, true);
    check_events(ALL, -1, -1);

    /* SIGSTOP: silence (TR_ETIMEDOUT); SIGCONT: a new session */
    cr_assert_eq(kill(host[3].pid, SIGSTOP), 0);
    others = ALL & ~BIT(3);
    await(others, 'D', BIT(3));
    saw(others, 3, false);
    check_events(others, 3, TR_ETIMEDOUT);
    cr_assert_eq(kill(host[3].pid, SIGCONT), 0);
    await(ALL, 'U', ALL);
    saw(others, 3, true);
    for (int j = 0; j < N; j++) /* n4 saw everyone go down and come back */
        if (j != 3) {
            saw(BIT(3), j, false);
            saw(BIT(3), j, true);
        }
    check_events(ALL, -1, -1);

    /* a two-way partition {n1,n2} | {n3,n4,n5}, then its heal */
    unsigned left = BIT(0) | BIT(1), right = ALL & ~left;
    partition(true);
    await(left, 'D', right);
    await(right, 'D', left);
    for (int j = 0; j < N; j++)
        saw(j < 2 ? right : left, j, false);
    check_events(ALL, -1, -1);
    partition(false);
    await(ALL, 'U', ALL);
    for (int j = 0; j < N; j++)
        saw(j < 2 ? right : left, j, true);
    check_events(ALL, -1, -1);

    /* a second n2 is refused by n1 (n2 is up there) and changes nothing */
    const char *in_ns5[] = {"ip", "netns", "exec", ns[4], NULL};
    const char *opts[] = {"down=2500", "hb=100", "life=60", NULL};
    char addr[32], url[64], bound[256], line[128], seed[64];
    ip4(4, addr, sizeof(addr));
    snprintf(url, sizeof(url), "tcp://%s:7001", addr);
    proc_start(&impostor, in_ns5, "n2", url, opts, bound, sizeof(bound));
    seed_url(seed, sizeof(seed));
    snprintf(line, sizeof(line), "connect %s", seed);
    cr_assert_eq(atoi(cmd(&impostor, line, "CONNECTED")), TR_ENAMETAKEN);
    cr_assert_eq(child_stop(&impostor, PROC_WAIT_MS, NULL, NULL), 0);
    check_events(ALL, -1, -1);

    /* n5 leaves: every other node sees it LEFT (TR_ESHUTDOWN), once */
    cr_assert_str_eq(cmd(&host[4], "leave", "LEFT"), "0");
    others = ALL & ~BIT(4);
    await(others, 'L', BIT(4));
    saw(others, 4, false);
    check_events(others, 4, TR_ESHUTDOWN);

    for (int i = 0; i < N; i++)
        cr_assert_eq(child_stop(&host[i], PROC_WAIT_MS, "ERROR", NULL), 0, "n%d exits cleanly", i + 1);
    cleanup();
}
