# lockboxctl's human output (issue 18): broker/ctl_print.c on captured replies.
add_executable(test_ctl_print ${CMAKE_CURRENT_LIST_DIR}/test_ctl_print.c
  ${CMAKE_SOURCE_DIR}/broker/ctl_print.c)
target_include_directories(test_ctl_print PRIVATE ${CMAKE_SOURCE_DIR}/broker)
target_link_libraries(test_ctl_print PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_ctl_print COMMAND test_ctl_print)
set_tests_properties(unit_ctl_print PROPERTIES LABELS unit)
