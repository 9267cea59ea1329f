# Engine API event lines, including ones over the 1 MiB line cap (issue 13 defect 7).
add_executable(test_engine_events ${CMAKE_CURRENT_LIST_DIR}/test_engine_events.c)
target_link_libraries(test_engine_events PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_engine_events COMMAND test_engine_events)
set_tests_properties(unit_engine_events PROPERTIES LABELS unit)
