/* json_hooks.c: cJSON's allocator hooks, set once (pthread_once) to the project's wrapper. */
#include "api/json_hooks.h"

#include <cjson/cJSON.h>
#include <pthread.h>

#include "core/alloc.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void install(void)
{
    cJSON_Hooks hooks = {.malloc_fn = hbn_malloc, .free_fn = hbn_free};

    cJSON_InitHooks(&hooks);
}

void hbn_json_hooks_install(void)
{
    pthread_once(&once, install);
}
