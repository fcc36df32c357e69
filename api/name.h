/* name.h: layer names (API.md): ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ without "..". Checked on the
 * raw bytes, so a percent-encoded separator (%2F) or NUL (%00) in a path is simply an invalid name.
 * Knows nothing of the store: whether a layer exists is the store's question. */
#ifndef HBN_NAME_H
#define HBN_NAME_H

#include <stddef.h>

#include "core/status.h"

/* HBN_OK when the LEN bytes at S (BORROWED, not necessarily NUL-terminated) form a valid layer
 * name, else HBN_E_INVALID_NAME with a sentence quoting the name (non-printable bytes shown as
 * '?', long names cut) in ERR. */
hbn_status hbn_name_check(const char *s, size_t len, hbn_err *err);

/* Writes a printable excerpt of S[LEN] into OUT[CAP] for messages: bytes outside 0x20..0x7e
 * become '?', and text beyond CAP - 4 bytes is cut with "...". CAP >= 8. */
void hbn_name_excerpt(const char *s, size_t len, char *out, size_t cap);

#endif
