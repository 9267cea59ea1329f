# AWS Signature Version 4 signer (HMAC-SHA256 and SHA-256 from OpenSSL's libcrypto).
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/sigv4.c
  ${CMAKE_CURRENT_LIST_DIR}/sigv4_util.c)
target_link_libraries(lockbox_broker PUBLIC PkgConfig::OPENSSL)
