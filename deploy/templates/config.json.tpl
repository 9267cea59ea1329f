{
  "database": {
    "host": "db.example",
    "user": {{ vault:database/creds/app#username | json }},
    "password": {{ vault:database/creds/app#password | json }}
  },
  "api_key": {{ vault:secret/app#api_key | trim | json }},
  "tls_key_b64": {{ local:app/tls_key | base64 | json }}
}
