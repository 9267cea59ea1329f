# Templates (issue 17): parse, render, filters, config errors with positions, the render
# step's result from its sources' results.
add_executable(test_template ${CMAKE_CURRENT_LIST_DIR}/test_template.c)
target_link_libraries(test_template PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_template COMMAND test_template)
set_tests_properties(unit_template PROPERTIES LABELS unit)
