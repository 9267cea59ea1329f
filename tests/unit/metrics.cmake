# core/metrics (issue 18): the registry, Prometheus text, snapshots relayed between processes.
add_executable(test_metrics ${CMAKE_CURRENT_LIST_DIR}/test_metrics.c)
target_link_libraries(test_metrics PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_metrics COMMAND test_metrics)
set_tests_properties(unit_metrics PROPERTIES LABELS unit)
