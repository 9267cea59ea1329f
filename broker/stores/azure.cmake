# Azure Key Vault store (azure-kv, issue 8); shares its token/read engine with gcp-sm
# (listing gcp_azure_common.c in both files is fine: CMake keeps one copy).
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/azure.c
  ${CMAKE_CURRENT_LIST_DIR}/gcp_azure_common.c)
target_link_libraries(lockbox_broker PUBLIC PkgConfig::OPENSSL)
target_compile_definitions(lockbox_broker PRIVATE LB_HAVE_AZURE)
# The config validator accepts "azure-kv" stores only when the store is built.
target_compile_definitions(lockbox_policy PRIVATE LB_HAVE_AZURE)
