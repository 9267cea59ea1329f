# aws-sm / aws-ssm store integration tests (issue 8): lockboxd against tests/servers/aws_double.py.
foreach(t aws_sm aws_ssm aws_creds aws_faults)
  add_test(NAME integ_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${LB_BIN})
  set_tests_properties(integ_${t} PROPERTIES LABELS "integration;root;aws"
    SKIP_RETURN_CODE 77 TIMEOUT 90)
endforeach()
# Self-test of the AWS test double (SigV4 verification, reply shapes, IMDS/ECS); registered
# here so that `ctest -L aws` runs it with the store tests.
add_test(NAME aws_double_selftest
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/servers/test_aws_double.py)
set_tests_properties(aws_double_selftest PROPERTIES LABELS "servers;aws" TIMEOUT 120
    SKIP_RETURN_CODE 77)
