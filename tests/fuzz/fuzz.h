/* fuzz.h: what the fuzz targets share. Each target file tests/fuzz/fuzz_<name>.c defines one
 * entry hbn_fuzz_<name>(data, size) that never trusts its bytes and aborts (through
 * HBN_FUZZ_CHECK) when an invariant of the code under test breaks. Built with
 * -DHBN_FUZZ_LIBFUZZER (tests/fuzz/run.sh) a target also defines libFuzzer's
 * LLVMFuzzerTestOneInput; without it, tests/check_fuzz_regress.c links every entry and replays the
 * committed corpora and crashers through them under `make check`. Test-only code. */
#ifndef HBN_FUZZ_H
#define HBN_FUZZ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int hbn_fuzz_state(const uint8_t *data, size_t size);       /* api/state.c, api/safetensors.c */
int hbn_fuzz_tensor_json(const uint8_t *data, size_t size); /* api/tensor_json.c */
int hbn_fuzz_json_scan(const uint8_t *data, size_t size);   /* api/json_scan.c */
int hbn_fuzz_router(const uint8_t *data, size_t size);      /* api/router.c, api/name.c */
int hbn_fuzz_api(const uint8_t *data, size_t size);         /* hbn_api_handle, v1 bodies */
int hbn_fuzz_oip(const uint8_t *data, size_t size);         /* OIP infer: framing, route */

/* X(name) for every target, in the order `make fuzz` runs them. */
#define HBN_FUZZ_TARGETS(X) X(state) X(tensor_json) X(json_scan) X(router) X(api) X(oip)

/* Reports a broken invariant with its location and aborts: a crash for libFuzzer (which saves
 * the input) and for the Check regression test alike. */
__attribute__((noreturn, format(printf, 3, 4))) static inline void
hbn_fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: fuzz invariant broken: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define HBN_FUZZ_CHECK(cond, ...)                                                               \
    do {                                                                                        \
        if (!(cond))                                                                            \
            hbn_fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                     \
    } while (0)

#ifdef HBN_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#define HBN_FUZZ_ENTRY(fn)                                                                      \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                \
    {                                                                                           \
        return fn(data, size);                                                                  \
    }
#else
#define HBN_FUZZ_ENTRY(fn)
#endif

#endif
