# Posture gate evaluation and the managed-secret hash set (pure, no I/O): the facts, one file
# per family of checks, and the evaluation that combines them.
target_sources(lockbox_policy PRIVATE ${CMAKE_CURRENT_LIST_DIR}/posture_eval.c
  ${CMAKE_CURRENT_LIST_DIR}/posture_facts.c ${CMAKE_CURRENT_LIST_DIR}/posture_rules_user.c
  ${CMAKE_CURRENT_LIST_DIR}/posture_rules_confine.c
  ${CMAKE_CURRENT_LIST_DIR}/posture_rules_mounts.c ${CMAKE_CURRENT_LIST_DIR}/posture_rules_env.c
  ${CMAKE_CURRENT_LIST_DIR}/secret_hash.c)
