# Privilege separation (issue 15): the network worker, its wire protocol and the proxy store.
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/wire.c
  ${CMAKE_CURRENT_LIST_DIR}/chan.c)
target_include_directories(lockbox_broker PUBLIC ${CMAKE_CURRENT_LIST_DIR})
