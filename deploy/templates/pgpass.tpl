db.example:5432:app:{{ vault:database/creds/app#username }}:{{ vault:database/creds/app#password }}
