#!/usr/bin/env bash
# Vault store faults on the connection: dropped, slow, refused (see vault_faults.sh).
FAULT_SET=net exec bash "$(dirname "$0")/vault_faults.sh" "$1"
