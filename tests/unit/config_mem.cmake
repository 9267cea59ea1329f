# What a parsed config keeps: compact structs, the JSON tree freed (issue 19).
add_executable(test_config_mem ${CMAKE_CURRENT_LIST_DIR}/test_config_mem.c)
target_link_libraries(test_config_mem PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_config_mem COMMAND test_config_mem)
set_tests_properties(unit_config_mem PROPERTIES LABELS unit TIMEOUT 60)
