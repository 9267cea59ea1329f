# HashiCorp Vault store (issue 5): a provider of the network-store engine.
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/vault.c
  ${CMAKE_CURRENT_LIST_DIR}/vault_auth.c ${CMAKE_CURRENT_LIST_DIR}/vault_auth_aws.c
  ${CMAKE_CURRENT_LIST_DIR}/vault_kv.c ${CMAKE_CURRENT_LIST_DIR}/vault_lease.c
  ${CMAKE_CURRENT_LIST_DIR}/vault_parse.c ${CMAKE_CURRENT_LIST_DIR}/vault_pki.c
  ${CMAKE_CURRENT_LIST_DIR}/vault_pki_parse.c)
