# An .env file for an app (docker compose env_file, systemd EnvironmentFile, `set -a; . FILE`).
# Binding: "app.env": { "template_file": "/etc/lockbox/templates/app.env.tpl", "mode": "0440" }
DB_USER={{ vault:database/creds/app#username | shell }}
DB_PASSWORD={{ vault:database/creds/app#password | shell }}
API_KEY={{ vault:secret/app#api_key | trim | shell }}
