# azure-kv store integration tests (issue 8): lockboxd against tests/servers/azure_double.py.
foreach(t azure_kv azure_creds)
  add_test(NAME integ_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${LB_BIN})
  set_tests_properties(integ_${t} PROPERTIES LABELS "integration;root;azure"
    SKIP_RETURN_CODE 77 TIMEOUT 60)
endforeach()
