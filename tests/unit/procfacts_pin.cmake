# A container's process pinned by its cgroup before its user namespace maps are taken
# (issue 13 defect 12: PID reuse between a container's death and its die event).
add_executable(test_procfacts_pin ${CMAKE_CURRENT_LIST_DIR}/test_procfacts_pin.c)
target_link_libraries(test_procfacts_pin PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_procfacts_pin COMMAND test_procfacts_pin)
set_tests_properties(unit_procfacts_pin PROPERTIES LABELS unit)
