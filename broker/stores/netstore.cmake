# The network-store engine (issue 14): Vault, AWS, GCP and Azure are its providers.
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/netstore.c
  ${CMAKE_CURRENT_LIST_DIR}/netstore_util.c)
