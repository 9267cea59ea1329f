# AWS Secrets Manager (aws-sm) and SSM Parameter Store (aws-ssm) stores (issue 8): providers
# of the network-store engine; they sign with sigv4.c (sigv4.cmake).
target_sources(lockbox_broker PRIVATE ${CMAKE_CURRENT_LIST_DIR}/aws.c
  ${CMAKE_CURRENT_LIST_DIR}/aws_creds.c ${CMAKE_CURRENT_LIST_DIR}/aws_parse.c)
