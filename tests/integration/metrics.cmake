# Metrics (issue 18): /metrics scraped by a real Prometheus.
foreach(t metrics_prometheus metrics_vault)
  add_test(NAME integ_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${LB_BIN})
  set_tests_properties(integ_${t} PROPERTIES LABELS "integration;root;metrics"
    SKIP_RETURN_CODE 77 TIMEOUT 180)
endforeach()

# lockboxctl as operators use it (issue 18).
add_test(NAME integ_lockboxctl COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/lockboxctl.sh ${LB_BIN})
set_tests_properties(integ_lockboxctl PROPERTIES LABELS "integration;root" SKIP_RETURN_CODE 77
  TIMEOUT 120)
