# The refresh pipeline with fake stores through the store vtable, a real loop and real
# target tmpfs mounts (root; exits 77 without).
add_executable(test_refresh ${CMAKE_CURRENT_LIST_DIR}/test_refresh.c)
target_link_libraries(test_refresh PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_refresh COMMAND test_refresh)
set_tests_properties(unit_refresh PROPERTIES LABELS "unit;root" SKIP_RETURN_CODE 77)
