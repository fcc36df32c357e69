/* name.c: validation of layer names against API.md's pattern
 * ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ without "..", on raw bytes (no percent-decoding, so %2F and
 * %00 are invalid, never separators). Also the printable excerpt used to quote untrusted text in
 * error messages. */
#include "api/name.h"

#include <stdbool.h>

#include "core/layer.h"

static bool is_alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

void hbn_name_excerpt(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = len;
    size_t i;

    if (n > cap - 1)
        n = cap - 4;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c <= 0x7e) ? (char)c : '?';
    }
    if (n < len) {
        out[n++] = '.';
        out[n++] = '.';
        out[n++] = '.';
    }
    out[n] = '\0';
}

hbn_status hbn_name_check(const char *s, size_t len, hbn_err *err)
{
    char shown[80];
    const char *why = NULL;
    size_t i;

    if (len == 0)
        why = "it is empty";
    else if (len > HBN_NAME_MAX)
        why = "it is longer than 128 characters";
    else if (!is_alnum(s[0]))
        why = "it must start with a letter or a digit";
    for (i = 1; why == NULL && i < len; i++) {
        if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            why = "only letters, digits, '.', '_' and '-' are allowed";
        else if (s[i] == '.' && s[i - 1] == '.')
            why = "it must not contain \"..\"";
    }
    if (why == NULL)
        return HBN_OK;
    hbn_name_excerpt(s, len, shown, sizeof shown);
    return hbn_err_set(err, HBN_E_INVALID_NAME, "layer name '%s' is invalid: %s", shown, why);
}
