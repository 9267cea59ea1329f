# Privilege separation (issue 15): the network worker, its wire protocol and the proxy store.
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/wire.c
  ${CMAKE_CURRENT_LIST_DIR}/chan.c ${CMAKE_CURRENT_LIST_DIR}/proxy.c
  ${CMAKE_CURRENT_LIST_DIR}/lifecycle.c
  ${CMAKE_CURRENT_LIST_DIR}/spawn.c ${CMAKE_CURRENT_LIST_DIR}/confine.c
  ${CMAKE_CURRENT_LIST_DIR}/worker.c)
target_include_directories(lockbox_broker PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(lockbox_broker PUBLIC PkgConfig::SECCOMP)
