# Container user database: Config.User resolved as Docker 20.10 / runc 1.1 do, and the
# files read without opening a FIFO or device (issue 13 defects 1 and 9).
add_executable(test_userdb ${CMAKE_CURRENT_LIST_DIR}/test_userdb.c)
target_link_libraries(test_userdb PRIVATE lockbox_broker PkgConfig::CMOCKA)
add_test(NAME unit_userdb COMMAND test_userdb)
set_tests_properties(unit_userdb PROPERTIES LABELS unit TIMEOUT 60)
