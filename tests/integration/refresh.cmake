# Refresh pipeline regressions at the shell level (issue 13): lockboxd with real stores.
foreach(t vault_hang vault_reload)
  add_test(NAME integ_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${LB_BIN})
  set_tests_properties(integ_${t} PROPERTIES LABELS "integration;root;vault"
    SKIP_RETURN_CODE 77 TIMEOUT 120)
endforeach()
