# AWS Secrets Manager (aws-sm) and SSM Parameter Store (aws-ssm) stores (issue 8): providers
# of the network-store engine; they sign with sigv4.c (sigv4.cmake).
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/aws.c
  ${CMAKE_CURRENT_LIST_DIR}/aws_creds.c ${CMAKE_CURRENT_LIST_DIR}/aws_parse.c)
target_compile_definitions(lockbox_broker PRIVATE LB_HAVE_AWS)
# The config validator accepts "aws-sm"/"aws-ssm" stores only when the store is built.
target_compile_definitions(lockbox_policy PRIVATE LB_HAVE_AWS)
