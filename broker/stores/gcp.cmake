# GCP Secret Manager store (gcp-sm, issue 8): a provider of the network-store engine.
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/gcp.c
  ${CMAKE_CURRENT_LIST_DIR}/oauth.c ${CMAKE_CURRENT_LIST_DIR}/cloud_parse.c)
target_link_libraries(lockbox_broker PUBLIC PkgConfig::OPENSSL)
