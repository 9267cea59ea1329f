# Vault store integration tests (issue 5): lockboxd against tests/servers/vault_double.py.
foreach(t vault_kv vault_auth vault_login vault_relogin vault_lease vault_rotate vault_token vault_faults
    vault_faults_net vault_template vault_pki)
  add_test(NAME integ_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${t}.sh ${LB_BIN})
  set_tests_properties(integ_${t} PROPERTIES LABELS "integration;root;vault"
    SKIP_RETURN_CODE 77 TIMEOUT 120)
endforeach()
