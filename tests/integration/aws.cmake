# aws-sm / aws-ssm store integration tests (issue 8): lockboxd against tests/servers/aws_double.py.
foreach(t aws_sm aws_ssm aws_creds aws_faults)
  add_test(NAME integ_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${LB_BIN})
  set_tests_properties(integ_${t} PROPERTIES LABELS "integration;root;aws"
    SKIP_RETURN_CODE 77 TIMEOUT 90)
endforeach()
