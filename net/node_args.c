/* A node from the command line and the environment (tr_node_start_args in
 * troupe/node.h): the options a node program would otherwise parse by hand,
 * named as erl's -sname and -setcookie are known to everyone. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/log.h"
#include "troupe/node.h"

#define MAX_URLS 8

typedef enum option { OPT_NODE, OPT_COOKIE, OPT_LISTEN, OPT_CONNECT, OPT_HEARTBEAT, OPT_DOWN_AFTER, NOPT } option;

static const struct {
    const char *flag, *env;
} options[NOPT] = {
    [OPT_NODE] = {"--node", "TROUPE_NODE"},
    [OPT_COOKIE] = {"--cookie", "TROUPE_COOKIE"},
    [OPT_LISTEN] = {"--listen", "TROUPE_LISTEN"},
    [OPT_CONNECT] = {"--connect", "TROUPE_CONNECT"},
    [OPT_HEARTBEAT] = {"--heartbeat-ms", "TROUPE_HEARTBEAT_MS"},
    [OPT_DOWN_AFTER] = {"--down-after-ms", "TROUPE_DOWN_AFTER_MS"},
};

typedef struct node_args {
    const char *value[NOPT]; /* the last one given (single-valued options) */
    const char *urls[2][MAX_URLS]; /* --listen, --connect */
    int nurls[2];
} node_args;

/* The option at argv[i]: how many entries it takes (1 for --opt=VALUE, 2
 * for --opt VALUE), 0 when argv[i] is none of ours, -1 when its value is
 * missing. */
static int option_at(char **argv, int argc, int i, option *opt, const char **value)
{
    for (int o = 0; o < NOPT; o++) {
        size_t n = strlen(options[o].flag);
        if (strncmp(argv[i], options[o].flag, n) != 0)
            continue;
        *opt = (option)o;
        if (argv[i][n] == '=') {
            *value = argv[i] + n + 1;
            return 1;
        }
        if (argv[i][n] != '\0')
            continue; /* a longer option of the program's own */
        if (i + 1 >= argc || argv[i + 1] == NULL)
            return -1;
        *value = argv[i + 1];
        return 2;
    }
    return 0;
}

static int add_value(node_args *a, option opt, const char *value)
{
    if (opt == OPT_LISTEN || opt == OPT_CONNECT) {
        int k = opt == OPT_CONNECT;
        if (a->nurls[k] == MAX_URLS) {
            tr_log(TR_LOG_ERROR, "node", "%s: more than %d URLs", options[opt].flag, MAX_URLS);
            return TR_EINVAL;
        }
        a->urls[k][a->nurls[k]++] = value;
    }
    a->value[opt] = value;
    return TR_OK;
}

/* Reads argv (without changing it), then the environment for what argv did
 * not give. */
static int parse(int argc, char **argv, node_args *a)
{
    for (int i = 1; i < argc && argv[i] != NULL && strcmp(argv[i], "--") != 0;) {
        option opt = OPT_NODE;
        const char *value = NULL;
        int used = option_at(argv, argc, i, &opt, &value);
        if (used < 0) {
            tr_log(TR_LOG_ERROR, "node", "%s needs a value", options[opt].flag);
            return TR_EINVAL;
        }
        if (used > 0 && add_value(a, opt, value) != TR_OK)
            return TR_EINVAL;
        i += used > 0 ? used : 1;
    }
    for (int o = 0; o < NOPT; o++) {
        const char *env = getenv(options[o].env);
        if (a->value[o] == NULL && env != NULL && env[0] != '\0' && add_value(a, (option)o, env) != TR_OK)
            return TR_EINVAL;
    }
    if (a->value[OPT_NODE] == NULL) {
        tr_log(TR_LOG_ERROR, "node", "no node name: give --node NAME or set TROUPE_NODE");
        return TR_EINVAL;
    }
    return TR_OK;
}

/* A millisecond count from --heartbeat-ms or --down-after-ms (absent: 0,
 * the node's default). */
static int parse_ms(const node_args *a, option opt, uint32_t *out)
{
    const char *s = a->value[opt];
    *out = 0;
    if (s == NULL)
        return TR_OK;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > UINT32_MAX) {
        tr_log(TR_LOG_ERROR, "node", "%s: '%s' is not a number of milliseconds", options[opt].flag, s);
        return TR_EINVAL;
    }
    *out = (uint32_t)v;
    return TR_OK;
}

/* Removes our options (and a "--") from argv, keeping the rest in order. */
static void remove_options(int *argc, char **argv)
{
    int w = 1, i = 1;
    while (i < *argc && argv[i] != NULL) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        option opt = OPT_NODE;
        const char *value = NULL;
        int used = option_at(argv, *argc, i, &opt, &value);
        if (used > 0) {
            i += used;
        } else {
            argv[w++] = argv[i++];
        }
    }
    while (i < *argc && argv[i] != NULL)
        argv[w++] = argv[i++];
    argv[w] = NULL;
    *argc = w;
}

int tr_node_start_args(tr_system *sys, int *argc, char **argv, tr_node **out)
{
    if (sys == NULL || (argc == NULL) != (argv == NULL) || (argc != NULL && *argc < 1))
        return TR_EINVAL;
    node_args a = {0};
    tr_node_opts o = {0};
    int rc = parse(argc != NULL ? *argc : 0, argv, &a);
    if (rc == TR_OK && (rc = parse_ms(&a, OPT_HEARTBEAT, &o.heartbeat_ms)) == TR_OK)
        rc = parse_ms(&a, OPT_DOWN_AFTER, &o.down_after_ms);
    if (rc != TR_OK)
        return rc;
    o.name = a.value[OPT_NODE];
    o.cookie = a.value[OPT_COOKIE];
    tr_node *node;
    if ((rc = tr_node_start(sys, &o, &node)) != TR_OK) {
        tr_log(TR_LOG_ERROR, "node", "cannot start node '%s': %s", o.name, tr_strerror(rc));
        return rc;
    }
    for (int k = 0; k < 2 && rc == TR_OK; k++) {
        for (int i = 0; i < a.nurls[k] && rc == TR_OK; i++) {
            const char *url = a.urls[k][i];
            rc = k == 0 ? tr_node_listen(node, url, NULL, 0) : tr_node_connect(node, url, 0, NULL, 0);
            if (rc == TR_ETIMEDOUT)
                rc = TR_OK; /* not up yet: dialling goes on */
            if (rc != TR_OK)
                tr_log(TR_LOG_ERROR, "node", "%s %s: %s", options[k == 0 ? OPT_LISTEN : OPT_CONNECT].flag, url,
                       tr_strerror(rc));
        }
    }
    if (rc != TR_OK) {
        tr_node_stop(node);
        return rc;
    }
    if (argc != NULL)
        remove_options(argc, argv);
    if (out != NULL)
        *out = node;
    return TR_OK;
}
