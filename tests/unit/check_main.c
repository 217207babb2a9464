/*
 * check_main.c - the one Check runner: adds every room's suite and exits
 * non-zero if any test failed.  Run from the repository root (tests read
 * tests/data/).
 */
#include <check.h>
#include <stdlib.h>

#include "log.h"

Suite *crypto_suite(void);
Suite *obfs2_suite(void);
Suite *config_suite(void);
Suite *links_suite(void);
Suite *faketls_suite(void);
Suite *tlsrec_suite(void);
Suite *replay_suite(void);
Suite *stats_suite(void);
Suite *admin_render_suite(void);
Suite *inherit_suite(void);
Suite *handoff_rec_suite(void);
Suite *relay_suite(void);
Suite *srcguard_suite(void);
Suite *userlim_suite(void);
Suite *json_in_suite(void);
Suite *admin_access_suite(void);
Suite *qr_suite(void);
Suite *me_inputs_suite(void);
Suite *me_proto_suite(void);
Suite *mtframe_suite(void);
Suite *dc_health_suite(void);
Suite *doctor_suite(void);
Suite *proxyproto_suite(void);
Suite *net_suite(void);
Suite *socks5_suite(void);
Suite *upstream_suite(void);

int
main(void)
{
    SRunner *sr = srunner_create(crypto_suite());
    int failed;

    log_set_level(LOG_LVL_ERROR);
    srunner_add_suite(sr, obfs2_suite());
    srunner_add_suite(sr, config_suite());
    srunner_add_suite(sr, links_suite());
    srunner_add_suite(sr, faketls_suite());
    srunner_add_suite(sr, tlsrec_suite());
    srunner_add_suite(sr, replay_suite());
    srunner_add_suite(sr, stats_suite());
    srunner_add_suite(sr, admin_render_suite());
    srunner_add_suite(sr, inherit_suite());
    srunner_add_suite(sr, handoff_rec_suite());
    srunner_add_suite(sr, relay_suite());
    srunner_add_suite(sr, srcguard_suite());
    srunner_add_suite(sr, userlim_suite());
    srunner_add_suite(sr, json_in_suite());
    srunner_add_suite(sr, admin_access_suite());
    srunner_add_suite(sr, qr_suite());
    srunner_add_suite(sr, me_inputs_suite());
    srunner_add_suite(sr, me_proto_suite());
    srunner_add_suite(sr, mtframe_suite());
    srunner_add_suite(sr, dc_health_suite());
    srunner_add_suite(sr, doctor_suite());
    srunner_add_suite(sr, proxyproto_suite());
    srunner_add_suite(sr, net_suite());
    srunner_add_suite(sr, socks5_suite());
    srunner_add_suite(sr, upstream_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
