/* check_kernels_isa.c: runs the kernels' Check suite against core/kernels.c built as one
 * version for the compiler flags of this program (HBN_NO_CLONES), so that the code the AVX2 and
 * baseline clones are compiled from runs here too, where the library's ifunc would pick the
 * AVX-512 clone. A program built for AVX2 on a CPU without it skips (exit 77). */
#include "tests/check_core.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    SRunner *sr;
    int failed;

#if defined(__AVX2__) && (defined(__x86_64__) || defined(__i386__))
    if (!__builtin_cpu_supports("avx2")) {
        printf("SKIP: built for AVX2, which this CPU lacks\n");
        return 77;
    }
#endif
    sr = srunner_create(hbn_kernels_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
