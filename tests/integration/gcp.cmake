# gcp-sm store integration tests (issue 8): lockboxd against tests/servers/gcp_double.py.
foreach(t gcp_sa gcp_faults)
  add_test(NAME integ_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${LB_BIN})
  set_tests_properties(integ_${t} PROPERTIES LABELS "integration;root;gcp"
    SKIP_RETURN_CODE 77 TIMEOUT 60)
endforeach()
