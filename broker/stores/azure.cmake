# Azure Key Vault store (azure-kv, issue 8): a provider of the network-store engine; shares
# oauth.c and cloud_parse.c with gcp-sm (listed in both: CMake keeps one copy).
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/azure.c
  ${CMAKE_CURRENT_LIST_DIR}/oauth.c ${CMAKE_CURRENT_LIST_DIR}/cloud_parse.c)
target_link_libraries(lockbox_broker PUBLIC PkgConfig::OPENSSL)
