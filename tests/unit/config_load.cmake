# lb_config_load on what can sit at the config path: FIFO, directory, huge file (issue 13
# defect 1: a FIFO hung SIGHUP).
add_executable(test_config_load ${CMAKE_CURRENT_LIST_DIR}/test_config_load.c)
target_link_libraries(test_config_load PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_config_load COMMAND test_config_load)
set_tests_properties(unit_config_load PROPERTIES LABELS unit TIMEOUT 60)
