-- Security groups, their ingress rules, their instances and the rules every
-- new `default` group starts with, as Nova's tables (soft-deleted: `deleted`
-- is 0 for live rows and equals `id` once deleted).

CREATE TABLE security_groups (
    id          SERIAL PRIMARY KEY,
    name        VARCHAR(255),
    description VARCHAR(255),
    user_id     VARCHAR(255),
    project_id  VARCHAR(255),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ,
    deleted_at  TIMESTAMPTZ,
    deleted     INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_security_groups0project_id0name0deleted UNIQUE (project_id, name, deleted)
);

CREATE TABLE security_group_rules (
    id              SERIAL PRIMARY KEY,
    parent_group_id INTEGER REFERENCES security_groups(id),
    protocol        VARCHAR(255),
    from_port       INTEGER,
    to_port         INTEGER,
    cidr            VARCHAR(43),
    group_id        INTEGER REFERENCES security_groups(id),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ,
    deleted_at      TIMESTAMPTZ,
    deleted         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX security_group_rules_parent_group_id_idx ON security_group_rules (parent_group_id);
CREATE INDEX security_group_rules_group_id_idx ON security_group_rules (group_id);

CREATE TABLE security_group_instance_association (
    id                SERIAL PRIMARY KEY,
    security_group_id INTEGER REFERENCES security_groups(id),
    instance_uuid     VARCHAR(36) REFERENCES instances(uuid),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ,
    deleted_at        TIMESTAMPTZ,
    deleted           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX security_group_instance_association_instance_uuid_idx
    ON security_group_instance_association (instance_uuid);
CREATE INDEX security_group_instance_association_security_group_id_idx
    ON security_group_instance_association (security_group_id);

CREATE TABLE security_group_default_rules (
    id          SERIAL PRIMARY KEY,
    protocol    VARCHAR(5),
    from_port   INTEGER,
    to_port     INTEGER,
    cidr        VARCHAR(43),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ,
    deleted_at  TIMESTAMPTZ,
    deleted     INTEGER NOT NULL DEFAULT 0
);
