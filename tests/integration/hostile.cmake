# Hostile clients of the broker's sockets (issue 13 defects 6 and 10): a connection flood
# on the plugin socket must not wedge it, announced-but-unsent control requests must not
# pin memory, VolumeDriver.Path must not leak (LSan in the asan preset).
add_test(NAME integ_broker_hostile
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/broker_hostile.sh ${LB_BIN})
set_tests_properties(integ_broker_hostile PROPERTIES LABELS "integration;root"
  SKIP_RETURN_CODE 77 TIMEOUT 300)
