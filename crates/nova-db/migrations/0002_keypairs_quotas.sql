-- Key pairs and per-project quota overrides, as Nova's API database has them.

CREATE TABLE key_pairs (
    id          SERIAL PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    user_id     VARCHAR(255) NOT NULL,
    fingerprint VARCHAR(255) NOT NULL,
    public_key  TEXT NOT NULL,
    type        VARCHAR(10) NOT NULL DEFAULT 'ssh',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ,
    CONSTRAINT uniq_key_pairs0user_id0name UNIQUE (user_id, name)
);

CREATE TABLE quotas (
    id          SERIAL PRIMARY KEY,
    project_id  VARCHAR(255) NOT NULL,
    resource    VARCHAR(255) NOT NULL,
    hard_limit  INTEGER NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ,
    CONSTRAINT uniq_quotas0project_id0resource UNIQUE (project_id, resource)
);
