# core/jsonw (the hand-written JSON of manifests, targets.json, deliver lines) and the held
# audit lines of core/log (issue 19).
add_executable(test_jsonw ${CMAKE_CURRENT_LIST_DIR}/test_jsonw.c)
target_link_libraries(test_jsonw PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_jsonw COMMAND test_jsonw)
set_tests_properties(unit_jsonw PROPERTIES LABELS unit)
