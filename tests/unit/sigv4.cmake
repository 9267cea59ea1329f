# SigV4 signer: aws-c-auth suite vectors (data/aws-sigv4.json, Apache-2.0, see
# data/aws-sigv4.NOTICE), canonicalisation rules, refusals, a Python cross-check.
add_executable(test_sigv4 ${CMAKE_CURRENT_LIST_DIR}/test_sigv4.c)
target_link_libraries(test_sigv4 PRIVATE lockbox_broker PkgConfig::CMOCKA)
target_compile_definitions(test_sigv4 PRIVATE
  LB_SIGV4_VECTORS="${CMAKE_CURRENT_LIST_DIR}/data/aws-sigv4.json")
add_test(NAME unit_sigv4 COMMAND test_sigv4 ${CMAKE_CURRENT_LIST_DIR}/data/aws-sigv4.json)
set_tests_properties(unit_sigv4 PROPERTIES LABELS unit)
