# SigV4 signer. unit_sigv4: references from outside, the aws-c-auth suite vectors
# (data/aws-sigv4.json, Apache-2.0, see data/aws-sigv4.NOTICE) and a Python cross-check;
# unit_sigv4_rules: canonicalisation rules and refusals. Shared: sigv4_fixture.c.
add_library(lbt_sigv4_fixture STATIC ${CMAKE_CURRENT_LIST_DIR}/sigv4_fixture.c)
target_link_libraries(lbt_sigv4_fixture PUBLIC lockbox_broker PkgConfig::CMOCKA)
add_executable(test_sigv4 ${CMAKE_CURRENT_LIST_DIR}/test_sigv4.c)
target_link_libraries(test_sigv4 PRIVATE lbt_sigv4_fixture)
target_compile_definitions(test_sigv4 PRIVATE
  LB_SIGV4_VECTORS="${CMAKE_CURRENT_LIST_DIR}/data/aws-sigv4.json")
add_test(NAME unit_sigv4 COMMAND test_sigv4 ${CMAKE_CURRENT_LIST_DIR}/data/aws-sigv4.json)
add_executable(test_sigv4_rules ${CMAKE_CURRENT_LIST_DIR}/test_sigv4_rules.c)
target_link_libraries(test_sigv4_rules PRIVATE lbt_sigv4_fixture)
add_test(NAME unit_sigv4_rules COMMAND test_sigv4_rules)
set_tests_properties(unit_sigv4 unit_sigv4_rules PROPERTIES LABELS unit)
