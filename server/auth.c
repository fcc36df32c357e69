/* auth.c: the API key (auth.h). The key lives in one heap buffer that is wiped before it is
 * freed; it is never logged. hbn_auth_check looks at every byte of the key whatever the
 * credentials sent, so the time taken does not tell where a guess went wrong. */
#include "server/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

/* Trims trailing white space of KEY[*LEN] and checks the rest is visible ASCII. */
static hbn_status auth_key_validate(char *key, size_t *len, const char *source, hbn_err *err)
{
    while (*len > 0 && (key[*len - 1] == '\n' || key[*len - 1] == '\r' || key[*len - 1] == ' ' ||
                        key[*len - 1] == '\t'))
        key[--*len] = '\0';
    if (*len == 0)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT, "the API key in %s is empty", source);
    if (*len > HBN_AUTH_KEY_MAX)
        return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                           "the API key in %s is longer than %d bytes", source, HBN_AUTH_KEY_MAX);
    for (size_t i = 0; i < *len; i++) {
        if (key[i] <= ' ' || key[i] > '~')
            return hbn_err_set(err, HBN_E_INVALID_ARGUMENT,
                               "the API key in %s has a character that is not visible ASCII "
                               "at byte %zu",
                               source, i);
    }
    return HBN_OK;
}

hbn_status hbn_auth_key_load(const char *path, char **key, hbn_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len;
    hbn_status st;

    if (f == NULL)
        return hbn_err_set(err, HBN_E_IO, "cannot open the API key file %s: %s", path,
                           strerror(errno));
    buf = hbn_calloc(HBN_AUTH_KEY_MAX + 3, 1);
    if (buf == NULL) {
        st = hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory reading the API key");
        goto fail;
    }
    len = fread(buf, 1, HBN_AUTH_KEY_MAX + 2, f);
    if (ferror(f)) {
        st = hbn_err_set(err, HBN_E_IO, "cannot read the API key file %s", path);
        goto fail;
    }
    st = auth_key_validate(buf, &len, path, err);
    if (st != HBN_OK)
        goto fail;
    fclose(f);
    *key = buf;
    return HBN_OK;
fail:
    hbn_auth_key_free(buf);
    fclose(f);
    return st;
}

hbn_status hbn_auth_key_dup(const char *key, char **out, hbn_err *err)
{
    size_t len = strnlen(key, HBN_AUTH_KEY_MAX + 1);
    char *buf = hbn_calloc(len + 1, 1);
    hbn_status st;

    if (buf == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory copying the API key");
    memcpy(buf, key, len);
    st = auth_key_validate(buf, &len, "HYPERBN_API_KEY", err);
    if (st != HBN_OK) {
        hbn_auth_key_free(buf);
        return st;
    }
    *out = buf;
    return HBN_OK;
}

void hbn_auth_key_free(char *key)
{
    if (key == NULL)
        return;
    /* volatile: the wipe must not be optimised away as a dead store */
    for (volatile char *p = key; *p != '\0'; p++)
        *p = '\0';
    hbn_free(key);
}

bool hbn_auth_check(const char *key, const char *authorization)
{
    size_t key_len = strlen(key), given_len;
    const char *given;
    unsigned char diff = 0;

    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    given = authorization + 7;
    while (*given == ' ')
        given++;
    given_len = strlen(given);
    while (given_len > 0 && (given[given_len - 1] == ' ' || given[given_len - 1] == '\t'))
        given_len--;
    /* every key byte is compared; missing bytes of a short guess compare against 0 */
    for (size_t i = 0; i < key_len; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < given_len ? given[i] : 0);
    return diff == 0 && given_len == key_len;
}
