/* check_core_main.c: runs every Check suite of core/ (config, layer, forward, kernels). Exit
 * status 0 exactly when every test passed. */
#include "tests/check_core.h"

#include <stdlib.h>

int main(void)
{
    SRunner *sr = srunner_create(hbn_config_suite());
    int failed;

    srunner_add_suite(sr, hbn_layer_suite());
    srunner_add_suite(sr, hbn_forward_suite());
    srunner_add_suite(sr, hbn_kernels_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
