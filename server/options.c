/* options.c: flags and HYPERBN_* environment variables into hbn_options, through one table that
 * names every option once (flag, variable, kind, range). Accepts `--flag value` and
 * `--flag=value`; numbers are plain decimal with no sign or spaces. Knows nothing of HTTP. */
#include "server/options.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define OPTIONS_DEFAULT_MAX_BODY ((size_t)64 << 20)

typedef enum opt_kind {
    OPT_STRING,  /* const char * */
    OPT_UINT,    /* unsigned */
    OPT_SIZE,    /* size_t */
    OPT_INT64,   /* int64_t */
    OPT_SWITCH,  /* bool; a flag without value, or 1/0/true/false/yes/no in the environment */
    OPT_LOGFMT,  /* hbn_log_format */
} opt_kind;

typedef struct opt_spec {
    const char *flag; /* without "--"; NULL: environment only */
    const char *env;  /* NULL: flag only */
    opt_kind kind;
    uint64_t min, max;
    size_t offset;    /* into hbn_options */
    const char *help; /* one line for --help */
} opt_spec;

#define OPT(f, e, k, lo, hi, field, h) {f, e, k, lo, hi, offsetof(hbn_options, field), h}

static const opt_spec options_table[] = {
    OPT("host", "HYPERBN_HOST", OPT_STRING, 0, 0, host, "address to bind (default 127.0.0.1)"),
    OPT("port", "HYPERBN_PORT", OPT_UINT, 0, 65535, port, "TCP port, 0 picks a free one (default 8080)"),
    OPT("threads", "HYPERBN_THREADS", OPT_UINT, 1, 4096, threads,
        "concurrent forward computations (default: number of CPUs)"),
    OPT("max-body-bytes", "HYPERBN_MAX_BODY_BYTES", OPT_SIZE, 1, (uint64_t)1 << 36, max_body_bytes,
        "largest request body accepted (default 67108864)"),
    OPT("max-layers", "HYPERBN_MAX_LAYERS", OPT_INT64, 0, (uint64_t)1 << 31, max_layers,
        "most layers held, 0 for no limit (default 1024)"),
    OPT("max-slots", "HYPERBN_MAX_SLOTS", OPT_INT64, 0, (uint64_t)1 << 31, max_slots,
        "most statistics slots per layer, 0 for no limit (default 1024)"),
    OPT("connection-timeout", "HYPERBN_CONNECTION_TIMEOUT", OPT_UINT, 0, 86400,
        connection_timeout, "seconds an idle connection is kept, 0 for ever (default 30)"),
    OPT("max-connections", "HYPERBN_MAX_CONNECTIONS", OPT_UINT, 1, 65536, max_connections,
        "concurrent connections (default 512)"),
    OPT("per-ip-connections", "HYPERBN_PER_IP_CONNECTIONS", OPT_UINT, 0, 65536,
        per_ip_connections, "concurrent connections per client address, 0 for no limit (default 0)"),
    OPT("api-key-file", "HYPERBN_API_KEY_FILE", OPT_STRING, 0, 0, api_key_file,
        "file holding the API key clients send as `Authorization: Bearer KEY`"),
    OPT(NULL, "HYPERBN_API_KEY", OPT_STRING, 0, 0, api_key, NULL),
    OPT("insecure-no-auth", "HYPERBN_INSECURE_NO_AUTH", OPT_SWITCH, 0, 0, insecure_no_auth,
        "allow a non-loopback address without an API key"),
    OPT("log-format", "HYPERBN_LOG_FORMAT", OPT_LOGFMT, 0, 0, log_format,
        "text or json (default text)"),
    OPT("drain-timeout", "HYPERBN_DRAIN_TIMEOUT", OPT_UINT, 0, 3600, drain_timeout,
        "seconds in-flight requests get after SIGTERM (default 25)"),
    OPT("data-dir", "HYPERBN_DATA_DIR", OPT_STRING, 0, 0, data_dir,
        "directory where layers persist, one file each (default: memory only)"),
    OPT("flush-interval", "HYPERBN_FLUSH_INTERVAL", OPT_UINT, 0, 3600, flush_interval,
        "seconds within which train-mode statistics updates reach the data directory, 0 to "
        "write them before each reply (default 1)"),
    OPT("help", NULL, OPT_SWITCH, 0, 0, show_help, "print this text and exit"),
    OPT("version", NULL, OPT_SWITCH, 0, 0, show_version, "print the version and exit"),
    OPT("healthcheck", NULL, OPT_STRING, 0, 0, healthcheck_url,
        "GET the http:// URL and exit 0 if it answers 200, else 1 (container health checks)"),
};

#define OPTIONS_COUNT (sizeof options_table / sizeof options_table[0])

static void options_defaults(hbn_options *opts)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    memset(opts, 0, sizeof *opts);
    opts->host = "127.0.0.1";
    opts->port = 8080;
    opts->threads = cpus >= 1 && cpus <= 4096 ? (unsigned)cpus : 1;
    opts->max_body_bytes = OPTIONS_DEFAULT_MAX_BODY;
    opts->max_layers = 1024;
    opts->max_slots = 1024;
    opts->connection_timeout = 30;
    opts->max_connections = 512;
    opts->drain_timeout = 25;
    opts->flush_interval = 1;
    opts->log_format = HBN_LOG_TEXT;
}

/* Strict decimal: digits only, at most MAX. */
static bool options_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v > (max - (uint64_t)(*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static bool options_parse_switch(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
                                                                              "off"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

/* Stores VALUE into OPTS's field for SPEC. WHO names the source for the error ("--port",
 * "HYPERBN_PORT"). */
static hbn_status options_set(const opt_spec *spec, const char *who, const char *value,
                              hbn_options *opts, hbn_err *err)
{
    char *field = (char *)opts + spec->offset;
    uint64_t v = 0;
    bool ok = true;

    switch (spec->kind) {
    case OPT_STRING:
        ok = value[0] != '\0';
        if (ok)
            *(const char **)(void *)field = value;
        break;
    case OPT_SWITCH:
        ok = options_parse_switch(value, (bool *)(void *)field);
        break;
    case OPT_LOGFMT:
        ok = strcmp(value, "text") == 0 || strcmp(value, "json") == 0;
        if (ok)
            *(hbn_log_format *)(void *)field = value[0] == 'j' ? HBN_LOG_JSON : HBN_LOG_TEXT;
        break;
    default:
        ok = options_parse_u64(value, spec->max, &v) && v >= spec->min;
        if (ok && spec->kind == OPT_UINT)
            *(unsigned *)(void *)field = (unsigned)v;
        else if (ok && spec->kind == OPT_SIZE)
            *(size_t *)(void *)field = (size_t)v;
        else if (ok)
            *(int64_t *)(void *)field = (int64_t)v;
        break;
    }
    if (ok)
        return HBN_OK;
    if (spec->kind == OPT_UINT || spec->kind == OPT_SIZE || spec->kind == OPT_INT64)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                           "%s: '%.64s' is not an integer in [%llu, %llu]", who, value,
                           (unsigned long long)spec->min, (unsigned long long)spec->max);
    return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "%s: invalid value '%.64s'", who, value);
}

static hbn_status options_from_env(hbn_options_env_fn env, hbn_options *opts, hbn_err *err)
{
    for (size_t i = 0; i < OPTIONS_COUNT && env != NULL; i++) {
        const opt_spec *spec = &options_table[i];
        const char *value = spec->env != NULL ? env(spec->env) : NULL;
        hbn_status st;

        if (value == NULL)
            continue;
        st = options_set(spec, spec->env, value, opts, err);
        if (st != HBN_OK)
            return st;
    }
    return HBN_OK;
}

/* The spec of flag ARG ("--name" or "--name=value"; *VALUE receives what follows '='). */
static const opt_spec *options_find(const char *arg, const char **value)
{
    size_t n;
    const char *eq;

    if (strncmp(arg, "--", 2) != 0)
        return NULL;
    arg += 2;
    eq = strchr(arg, '=');
    n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    *value = eq != NULL ? eq + 1 : NULL;
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const char *flag = options_table[i].flag;

        if (flag != NULL && strlen(flag) == n && strncmp(flag, arg, n) == 0)
            return &options_table[i];
    }
    return NULL;
}

hbn_status hbn_options_parse(int argc, char **argv, hbn_options_env_fn env, hbn_options *opts,
                             hbn_err *err)
{
    hbn_status st;

    options_defaults(opts);
    st = options_from_env(env, opts, err);
    for (int i = 1; i < argc && st == HBN_OK; i++) {
        const char *value = NULL;
        const opt_spec *spec = options_find(argv[i], &value);
        char who[48];

        if (spec == NULL)
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "unknown argument '%.64s'", argv[i]);
        if (spec->kind == OPT_SWITCH && value != NULL)
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "--%s takes no value", spec->flag);
        if (spec->kind == OPT_SWITCH) {
            value = "1";
        } else if (value == NULL) {
            if (i + 1 >= argc)
                return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "--%s needs a value",
                                   spec->flag);
            value = argv[++i];
        }
        snprintf(who, sizeof who, "--%s", spec->flag);
        st = options_set(spec, who, value, opts, err);
    }
    return st;
}

void hbn_options_usage(FILE *out)
{
    fputs("usage: hyperbnd [OPTION]...\n"
          "Serves hypernetwork-compatible batch normalization over HTTP.\n\n",
          out);
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const opt_spec *spec = &options_table[i];
        const char *arg = spec->kind == OPT_SWITCH ? "" : spec->kind == OPT_STRING ? " STR"
                                                                                    : " N";

        if (spec->flag == NULL)
            continue;
        if (spec->kind == OPT_LOGFMT)
            arg = " FMT";
        fprintf(out, "  --%s%s\n      %s%s%s\n", spec->flag, arg, spec->help,
                spec->env != NULL ? "; env " : "", spec->env != NULL ? spec->env : "");
    }
    fputs("\nHYPERBN_API_KEY holds the API key itself (--api-key-file wins).\n"
          "Binding a non-loopback address needs an API key or --insecure-no-auth.\n",
          out);
}

bool hbn_options_host_is_loopback(const char *host)
{
    uint64_t part;
    const char *p = host;

    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
        strcmp(host, "[::1]") == 0)
        return true;
    if (strncmp(host, "127.", 4) != 0)
        return false;
    /* 127.a.b.c with three decimal parts <= 255 */
    p += 4;
    for (int k = 0; k < 3; k++) {
        char buf[4];
        size_t n = strcspn(p, ".");

        if (n == 0 || n > 3 || (k < 2) != (p[n] == '.'))
            return false;
        memcpy(buf, p, n);
        buf[n] = '\0';
        if (!options_parse_u64(buf, 255, &part))
            return false;
        p += n + (k < 2);
    }
    return *p == '\0';
}
