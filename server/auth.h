/* auth.h: the API key: loading it from a file and checking an Authorization header against it in
 * constant time. Knows nothing of routes (api/ says which need a key) nor of libmicrohttpd. */
#ifndef HBN_AUTH_H
#define HBN_AUTH_H

#include <stdbool.h>

#include "core/status.h"

#define HBN_AUTH_KEY_MAX 4096

/* Reads the key from PATH into *KEY (NEW, free with hbn_auth_key_free): the file's content
 * without trailing white space, 1..HBN_AUTH_KEY_MAX visible ASCII characters. HBN_E_IO (cannot
 * read), HBN_E_INVALID_ARGUMENT (empty, too long or with other characters), HBN_E_NO_MEMORY. */
hbn_status hbn_auth_key_load(const char *path, char **key, hbn_err *err);

/* Copies KEY (from the environment) into *OUT (NEW) after the same checks as a file's content. */
hbn_status hbn_auth_key_dup(const char *key, char **out, hbn_err *err);

/* Overwrites and frees KEY. Accepts NULL. */
void hbn_auth_key_free(char *key);

/* True when AUTHORIZATION (a header value, or NULL) is "Bearer KEY" (scheme case-insensitive).
 * The comparison of the credentials takes the same time wherever they differ. */
bool hbn_auth_check(const char *key, const char *authorization);

#endif
