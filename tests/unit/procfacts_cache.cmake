# The posture re-check cache (issue 19): a container's kernel facts are parsed again only
# when its process or mount namespace changed, lockboxd's mount table only after it changed.
add_executable(test_procfacts_cache ${CMAKE_CURRENT_LIST_DIR}/test_procfacts_cache.c)
target_link_libraries(test_procfacts_cache PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_procfacts_cache COMMAND test_procfacts_cache)
set_tests_properties(unit_procfacts_cache PROPERTIES LABELS unit)
