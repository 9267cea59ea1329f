# azure-kv store integration tests (issue 8): lockboxd against tests/servers/azure_double.py.
foreach(t azure_kv azure_creds azure_faults)
  add_test(NAME integ_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${LB_BIN})
  set_tests_properties(integ_${t} PROPERTIES LABELS "integration;root;azure"
    SKIP_RETURN_CODE 77 TIMEOUT 120)
endforeach()
# Self-test of the Azure double (kept here, beside the tests that use it, so that it
# carries the azure label).
add_test(NAME azure_double_selftest
  COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/../servers/test_azure_double.py)
set_tests_properties(azure_double_selftest PROPERTIES LABELS "servers;azure" TIMEOUT 120
  SKIP_RETURN_CODE 77)
