/* Seeds (tr_node_add_seed). In this process: bad URLs are refused, a name
 * that does not resolve costs nothing but a log line, and a seed named
 * "localhost" reaches the node listening there (seen through a process
 * group's snapshot, which only a session brings). In a network namespace
 * (a "cluster" of node_proc children on addresses that exist only there):
 * a DNS name that resolves to three nodes (a hosts file for that
 * namespace: `ip netns exec` mounts /etc/netns/NS/hosts over /etc/hosts, as
 * a Kubernetes headless service would answer) connects the seeker to all
 * three; a fourth node that appears under the name later is dialled at the
 * next resolution. The namespace and its files are always deleted. Skipped
 * with a reason without `ip` or the right to create namespaces (a failure
 * under CI, which runs as root). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "tests/net/pg_events.h"
#include "tests/net/procs.h"
#include "tests/support/skip.h"

Test(seeds, bad_urls_are_refused_and_an_unknown_name_is_harmless)
{
    tr_system *sys = make_system(1);
    tr_node_opts o = {.name = "seeker", .cookie = "secret"};
    tr_node *node = NULL;
    cr_assert_eq(tr_node_start(sys, &o, &node), TR_OK);
    const char *bad[] = {"nope", "://x:1", "tcp://host", "tcp://host:", "tcp://host:0", "tcp://host:65536",
                         "tcp://host:12a", "tcp://:7000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(tr_node_add_seed(node, bad[i], 0), TR_EINVAL, "%s", bad[i]);
    cr_assert_eq(tr_node_add_seed(NULL, "tcp://a:1", 0), TR_EINVAL);
    cr_assert_eq(tr_node_add_seed(node, "tcp://no-such-host.invalid:7000", 50), TR_OK, "resolved later");
    char url[64];
    int added = 1;
    for (int i = 0; i < 40; i++) {
        snprintf(url, sizeof(url), "tcp://127.0.0.%d:9", i + 2);
        int rc = tr_node_add_seed(node, url, 0);
        cr_assert(rc == TR_OK || rc == TR_ETOOBIG);
        added += rc == TR_OK;
    }
    cr_assert_eq(added, 16, "16 seeds at most");
    tr_node_stop(node); /* stops the seeds thread, even mid-resolution */
    tr_system_destroy(sys);
}

Test(seeds, a_seed_named_localhost_reaches_the_node_there)
{
    events_reset();
    tr_system *s1 = make_system(1), *s2 = make_system(1);
    char url[128], seed[160];
    tr_node *n1 = local_node(s1, "s1", "tcp://127.0.0.1:0", 20000, url, sizeof(url));
    tr_node *n2 = local_node(s2, "seeker", "tcp://127.0.0.1:0", 20000, NULL, 0);
    tr_ref member, sub;
    cr_assert_eq(tr_spawn(s1, &idle, NULL, NULL, &member), TR_OK);
    cr_assert_eq(tr_pg_join(s1, "here", member), TR_OK);
    cr_assert_eq(tr_spawn(s2, &recorder, NULL, NULL, &sub), TR_OK);
    cr_assert_eq(tr_pg_monitor(s2, "here", sub, NULL), TR_OK);
    snprintf(seed, sizeof(seed), "tcp://localhost:%s", strrchr(url, ':') + 1);
    cr_assert_eq(tr_node_add_seed(n2, seed, 100), TR_OK);
    cr_assert(events_wait_members(1, 0), "s1's member, once the seed connected");
    cr_assert(tr_node_peer_up(n2, "s1"));
    tr_node_stop(n2);
    tr_node_stop(n1);
    tr_system_destroy(s2);
    tr_system_destroy(s1);
}

/* ---- a name for several nodes, in a namespace ---- */

static child nodes[5];
static char ns[32], hosts_dir[64];
static bool ns_made;

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

static void ns_cleanup(void)
{
    for (int i = 0; i < 5; i++)
        child_kill(&nodes[i]);
    if (!ns_made)
        return;
    ns_made = false;
    sh("ip netns del %s 2>/dev/null; rm -rf %s", ns, hosts_dir);
}

static const char *cmd(child *c, const char *line, const char *answer)
{
    static char rest[256];
    cr_assert(child_say(c, line), "cannot write \"%s\"", line);
    cr_assert(child_expect(c, answer, rest, sizeof(rest), PROC_WAIT_MS), "no %s after \"%s\"", answer, line);
    return rest;
}

/* Adds "ADDR seeds.troupe.test" to the namespace's hosts file, in place
 * (the file mounted over /etc/hosts in the namespace is this inode). */
static void hosts_add(const char *addr)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/hosts", hosts_dir);
    FILE *f = fopen(path, "a");
    cr_assert(f != NULL, "open %s", path);
    fprintf(f, "%s seeds.troupe.test\n", addr);
    cr_assert_eq(fclose(f), 0);
}

Test(seeds, a_dns_name_for_three_nodes_then_four)
{
    if (sh("command -v ip >/dev/null 2>&1") != 0)
        tr_test_skip("the ip command (iproute2) is not installed");
    snprintf(ns, sizeof(ns), "troupe-seeds-%d", (int)getpid());
    snprintf(hosts_dir, sizeof(hosts_dir), "/etc/netns/%s", ns);
    atexit(ns_cleanup);
    if (sh("ip netns add %s 2>/dev/null", ns) != 0)
        tr_test_skip("cannot create network namespaces (needs root or CAP_NET_ADMIN)");
    ns_made = true;
    cr_assert_eq(sh("set -e; ip -n %s link set lo up; for i in 1 2 3 4 9; do ip -n %s addr add 10.213.4.$i/32 dev lo; "
                    "done; mkdir -p %s; printf '127.0.0.1 localhost\\n' > %s/hosts",
                    ns, ns, hosts_dir, hosts_dir),
                 0, "namespace set up");
    hosts_add("10.213.4.1");
    hosts_add("10.213.4.2");
    hosts_add("10.213.4.3");

    const char *in_ns[] = {"ip", "netns", "exec", ns, NULL};
    char bound[256], name[8], url[64];
    for (int i = 1; i <= 3; i++) { /* the fourth comes later */
        snprintf(name, sizeof(name), "s%d", i);
        snprintf(url, sizeof(url), "tcp://10.213.4.%d:7400", i);
        proc_start(&nodes[i], in_ns, name, url, NULL, bound, sizeof(bound));
    }
    proc_start(&nodes[0], in_ns, "seeker", "tcp://10.213.4.9:0", NULL, bound, sizeof(bound));
    cr_assert_str_eq(cmd(&nodes[0], "seed tcp://seeds.troupe.test:7400 200", "SEEDED"), "0");
    cr_assert_str_eq(cmd(&nodes[0], "peers 3", "PEERS"), "3", "every address of the name dialled");
    cr_assert_str_eq(cmd(&nodes[0], "up s1", "UP"), "1");
    cr_assert_str_eq(cmd(&nodes[0], "up s2", "UP"), "1");
    cr_assert_str_eq(cmd(&nodes[0], "up s3", "UP"), "1");

    /* a node appears under the name: found at the next resolution */
    proc_start(&nodes[4], in_ns, "s4", "tcp://10.213.4.4:7400", NULL, bound, sizeof(bound));
    hosts_add("10.213.4.4");
    cr_assert_str_eq(cmd(&nodes[0], "peers 4", "PEERS"), "4", "the new address dialled");
    cr_assert_str_eq(cmd(&nodes[0], "up s4", "UP"), "1");

    for (int i = 1; i <= 4; i++)
        cr_assert_eq(child_stop(&nodes[i], PROC_WAIT_MS, NULL, NULL), 0, "node %d exits cleanly", i);
    cr_assert_eq(child_stop(&nodes[0], PROC_WAIT_MS, NULL, NULL), 0, "the seeker exits cleanly");
    ns_cleanup();
}
