/* json_hooks.h: routes cJSON's allocations through the project's wrapper (core/alloc.h), so the
 * fault-injection tests reach cJSON's allocation sites too and count what it leaves live. */
#ifndef HBN_JSON_HOOKS_H
#define HBN_JSON_HOOKS_H

/* Installs hbn_malloc / hbn_free as cJSON's allocator, once per process (thread-safe; every
 * later call returns at once). Call before the first cJSON call of a code path. */
void hbn_json_hooks_install(void);

#endif
