/* options.h: the daemon's configuration from command-line flags and their HYPERBN_* environment
 * twins (a flag wins over its variable). Parsing never prints and never exits: main() prints the
 * usage, the version or the error sentence and chooses the exit code. */
#ifndef HBN_OPTIONS_H
#define HBN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef enum hbn_log_format { HBN_LOG_TEXT = 0, HBN_LOG_JSON = 1 } hbn_log_format;

typedef struct hbn_options {
    const char *host;            /* BORROWED from argv or the environment */
    unsigned port;               /* 0 picks a free port */
    unsigned threads;            /* cap on concurrent forward computations */
    size_t max_body_bytes;
    int64_t max_layers;          /* 0: no limit */
    int64_t max_slots;           /* 0: no limit */
    unsigned connection_timeout; /* seconds of client inactivity; 0: never */
    unsigned max_connections;
    unsigned per_ip_connections; /* 0: no limit */
    const char *api_key_file;    /* BORROWED, or NULL */
    const char *api_key;         /* BORROWED (HYPERBN_API_KEY), or NULL */
    bool insecure_no_auth;
    hbn_log_format log_format;
    unsigned drain_timeout;      /* seconds in-flight requests get after SIGTERM */
    const char *data_dir;        /* BORROWED: where layers persist, or NULL (memory only) */
    unsigned flush_interval;     /* seconds between writes of train updates; 0: before reply */
    bool show_help;              /* --help: print the usage and exit 0 */
    bool show_version;           /* --version */
    const char *healthcheck_url; /* BORROWED: --healthcheck URL, or NULL */
} hbn_options;

/* Looks up an environment variable: getenv, or a table in tests. Returns BORROWED or NULL. */
typedef const char *(*hbn_options_env_fn)(const char *name);

/* Fills OPTS from the defaults, then the environment through ENV (NULL: no environment), then
 * ARGV[1..ARGC). The strings in OPTS borrow from ARGV and the environment. Returns HBN_OK or
 * HBN_E_INVALID_ARGUMENT with a sentence naming the flag (or variable) and value in ERR. */
hbn_status hbn_options_parse(int argc, char **argv, hbn_options_env_fn env, hbn_options *opts,
                             hbn_err *err);

/* Prints the usage text to OUT. */
void hbn_options_usage(FILE *out);

/* True when HOST names only this machine (127.0.0.0/8, ::1, localhost). */
bool hbn_options_host_is_loopback(const char *host);

#endif
