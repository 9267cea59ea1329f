# The publisher child (broker/pubfork.c) on plain directories: the fds and secret bytes it
# holds, the waits for it (a signal, the shutdown bound).
add_executable(test_pubfork ${CMAKE_CURRENT_LIST_DIR}/test_pubfork.c)
target_link_libraries(test_pubfork PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_pubfork COMMAND test_pubfork)
set_tests_properties(unit_pubfork PROPERTIES LABELS unit)
