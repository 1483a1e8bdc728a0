/*
 * What every unit test's main() does with its suite: run it (Check's
 * CK_RUN_SUITE, CK_RUN_CASE, CK_FORK, CK_DEFAULT_TIMEOUT apply) and give
 * the number of failed tests; exit with llo_t_exit() of it.
 */

#ifndef _LLO_T_CHECK_MAIN_H_INCLUDED_
#define _LLO_T_CHECK_MAIN_H_INCLUDED_


#include <check.h>
#include <stdlib.h>


static int
llo_t_run_suite(Suite *s)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed;
}


#define llo_t_exit(failed)  ((failed) == 0 ? EXIT_SUCCESS : EXIT_FAILURE)


#endif /* _LLO_T_CHECK_MAIN_H_INCLUDED_ */
