/* Two "hosts" as Linux network namespaces joined by a veth pair (addresses
 * 10.213.1.1 and .2 exist only inside the two namespaces this test creates),
 * a node process on each (ip netns exec tests/net/node_proc), driven through
 * its stdin/stdout: remote send, ask and monitors both ways work; then the
 * link is cut (both veth ends down) and node-down reaches the monitor on
 * each host exactly once; the link comes back and sending works again (same
 * nodes, same incarnations). The namespaces are always deleted. Skipped with
 * a reason without `ip` or the permission to create namespaces (root or
 * CAP_NET_ADMIN).
 *
 * This test process runs no node itself: Criterion talks to its workers
 * through NNG's nanomsg compatibility API, so NNG's threads already exist
 * (in the original namespace) before a test could enter host A. */
#include <criterion/criterion.h>
#include <stdarg.h>

#include "tests/net/procs.h"
#include "tests/support/skip.h"

static child host_a, host_b;
static char ns_a[32], ns_b[32], veth_a[16], veth_b[16];
static bool ns_made;

/* Runs a shell command built from fmt; returns its exit status. */
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

static void netns_cleanup(void)
{
    child_kill(&host_a);
    child_kill(&host_b);
    if (!ns_made)
        return;
    ns_made = false;
    sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns_a, ns_b);
}

/* Creates the two hosts and their link; skips the test when not allowed
 * (a failure under CI, tests/support/skip.h). */
static void hosts_create(void)
{
    if (sh("command -v ip >/dev/null 2>&1") != 0)
        tr_test_skip("the ip command (iproute2) is not installed");
    int pid = (int)getpid();
    snprintf(ns_a, sizeof(ns_a), "troupe-a-%d", pid);
    snprintf(ns_b, sizeof(ns_b), "troupe-b-%d", pid);
    snprintf(veth_a, sizeof(veth_a), "trva%d", pid % 10000000);
    snprintf(veth_b, sizeof(veth_b), "trvb%d", pid % 10000000);
    atexit(netns_cleanup);
    if (sh("ip netns add %s 2>/dev/null", ns_a) != 0)
        tr_test_skip("cannot create network namespaces (needs root or CAP_NET_ADMIN)");
    ns_made = true;
    int rc = sh("set -e; ip netns add %s; "
                "ip link add %s netns %s type veth peer name %s netns %s; "
                "ip -n %s addr add 10.213.1.1/24 dev %s; ip -n %s addr add 10.213.1.2/24 dev %s; "
                "ip -n %s link set lo up; ip -n %s link set lo up; "
                "ip -n %s link set %s up; ip -n %s link set %s up",
                ns_b, veth_a, ns_a, veth_b, ns_b, ns_a, veth_a, ns_b, veth_b, ns_a, ns_b, ns_a, veth_a,
                ns_b, veth_b);
    if (rc != 0) {
        netns_cleanup();
        tr_test_skip("cannot set up a veth pair between namespaces (exit %d)", rc);
    }
}

static void link_set(const char *state)
{
    cr_assert_eq(sh("ip -n %s link set %s %s && ip -n %s link set %s %s", ns_a, veth_a, state, ns_b, veth_b,
                    state),
                 0, "link %s", state);
}

/* Sends a command and returns the rest of the answer line starting with
 * `answer` (fails the test without one). */
static const char *cmd(child *c, const char *line, const char *answer)
{
    static char rest[256];
    cr_assert(child_say(c, line), "cannot write \"%s\"", line);
    cr_assert(child_expect(c, answer, rest, sizeof(rest), PROC_WAIT_MS), "no %s after \"%s\"", answer, line);
    return rest;
}

Test(netns, cut_link_is_one_node_down_per_monitor_on_both_hosts)
{
    hosts_create();
    const char *in_a[] = {"ip", "netns", "exec", ns_a, NULL};
    const char *in_b[] = {"ip", "netns", "exec", ns_b, NULL};
    const char *opts[] = {"down=2000", "hb=100", NULL};
    char url_a[256], url_b[256], line[300];
    proc_start(&host_a, in_a, "hosta", "tcp://10.213.1.1:0", opts, url_a, sizeof(url_a));
    proc_start(&host_b, in_b, "hostb", "tcp://10.213.1.2:0", opts, url_b, sizeof(url_b));
    cr_assert(strncmp(url_b, "tcp://10.213.1.2:", 17) == 0, "%s", url_b);

    snprintf(line, sizeof(line), "connect %s", url_b);
    cr_assert_str_eq(cmd(&host_a, line, "CONNECTED"), "0");
    cr_assert_str_eq(cmd(&host_a, "ask hostb/echo", "ASKED"), "0");
    cr_assert_str_eq(cmd(&host_b, "ask hosta/echo", "ASKED"), "0");
    cmd(&host_a, "ping hostb/echo", "PONG");
    cmd(&host_b, "ping hosta/echo", "PONG");
    cmd(&host_a, "watch hostb/echo", "WATCHING");
    cmd(&host_b, "watch hosta/echo", "WATCHING");
    /* asks travel behind the MONITOR envelopes: both monitors are in place */
    cr_assert_str_eq(cmd(&host_a, "ask hostb/echo", "ASKED"), "0");
    cr_assert_str_eq(cmd(&host_b, "ask hosta/echo", "ASKED"), "0");

    link_set("down");
    char rest[64];
    cr_assert(child_expect(&host_a, "DOWN", rest, sizeof(rest), PROC_WAIT_MS), "node-down on host A");
    cr_assert_eq(atoi(rest), TR_ENODEDOWN, "host A's DOWN reason %s", rest);
    cr_assert(child_expect(&host_b, "DOWN", rest, sizeof(rest), PROC_WAIT_MS), "node-down on host B");
    cr_assert_eq(atoi(rest), TR_ENODEDOWN, "host B's DOWN reason %s", rest);
    cr_assert_eq(atoi(cmd(&host_a, "ask hostb/echo", "ASKED")), TR_ENOTCONN);

    /* the link comes back: the same nodes find each other again */
    link_set("up");
    cr_assert_str_eq(cmd(&host_a, line, "CONNECTED"), "0");
    cr_assert_str_eq(cmd(&host_a, "ask hostb/echo", "ASKED"), "0");
    cmd(&host_a, "ping hostb/echo", "PONG");
    cr_assert_str_eq(cmd(&host_a, "stats", "STATS"), "1 1", "one node-down, peer up again");

    int extra_a = -1, extra_b = -1;
    cr_assert_eq(child_stop(&host_b, PROC_WAIT_MS, "DOWN", &extra_b), 0, "host B exits cleanly");
    cr_assert_eq(child_stop(&host_a, PROC_WAIT_MS, "DOWN", &extra_a), 0, "host A exits cleanly");
    cr_assert_eq(extra_a, 0, "exactly one DOWN on host A");
    cr_assert_eq(extra_b, 0, "exactly one DOWN on host B");
    netns_cleanup();
}
