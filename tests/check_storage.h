/* check_storage.h: the suites of tests/check_storage: the data directory (server/storage.c, built
 * here with HBN_STORAGE_FAULTS so that any file operation can be made to fail), the persisting
 * registry over it, and the /state routes through hbn_api_handle (no socket). Test-only. */
#ifndef HBN_CHECK_STORAGE_H
#define HBN_CHECK_STORAGE_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

Suite *hbn_storage_suite(void);      /* check_storage.c */
Suite *hbn_routes_state_suite(void); /* check_routes_state.c */

/* The NEW contents (free) of file PATH and its length in *LEN, or NULL when it cannot be read. */
uint8_t *test_read_path(const char *path, size_t *len);

#endif
