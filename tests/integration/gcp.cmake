# gcp-sm store integration tests (issue 8): lockboxd against tests/servers/gcp_double.py.
foreach(t gcp_sa gcp_refresh gcp_faults)
  add_test(NAME integ_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${LB_BIN})
  set_tests_properties(integ_${t} PROPERTIES LABELS "integration;root;gcp"
    SKIP_RETURN_CODE 77 TIMEOUT 120)
endforeach()
# Self-test of the GCP double (kept here, beside the tests that use it, so that it carries
# the gcp label).
add_test(NAME gcp_double_selftest
  COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/../servers/test_gcp_double.py)
set_tests_properties(gcp_double_selftest PROPERTIES LABELS "servers;gcp" TIMEOUT 120
  SKIP_RETURN_CODE 77)
