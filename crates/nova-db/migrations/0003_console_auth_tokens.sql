-- Console authorizations, as Nova's main database has them (nova >= Rocky):
-- only the SHA-256 of each token is kept, with its expiry in unix seconds.

CREATE TABLE console_auth_tokens (
    id                   SERIAL PRIMARY KEY,
    token_hash           VARCHAR(255) NOT NULL,
    console_type         VARCHAR(255) NOT NULL,
    host                 VARCHAR(255) NOT NULL,
    port                 INTEGER NOT NULL,
    tls_port             INTEGER,
    internal_access_path VARCHAR(255),
    instance_uuid        VARCHAR(36) NOT NULL,
    expires              INTEGER NOT NULL,
    access_url_base      VARCHAR(255),
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ,
    CONSTRAINT uniq_console_auth_tokens0token_hash UNIQUE (token_hash)
);

CREATE INDEX console_auth_tokens_instance_uuid_idx ON console_auth_tokens (instance_uuid);
CREATE INDEX console_auth_tokens_host_expires_idx ON console_auth_tokens (host, expires);
CREATE INDEX console_auth_tokens_token_hash_instance_uuid_idx ON console_auth_tokens (token_hash, instance_uuid);
