# Privilege separation (issue 15): the network worker's confinement and faults.
add_test(NAME integ_privsep COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/privsep.sh ${LB_BIN})
set_tests_properties(integ_privsep PROPERTIES LABELS "integration;root;vault" SKIP_RETURN_CODE 77
  TIMEOUT 180)
