-- Server groups, in the shape of Nova's API database: a group, its policy
-- (one per group since 2.64, with its rules as JSON text) and its members
-- (instance uuids; a member leaves its group when the instance is deleted).

CREATE TABLE instance_groups (
    id          SERIAL PRIMARY KEY,
    uuid        VARCHAR(36) NOT NULL,
    name        VARCHAR(255),
    user_id     VARCHAR(255),
    project_id  VARCHAR(255),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ,
    CONSTRAINT uniq_instance_groups0uuid UNIQUE (uuid)
);
CREATE INDEX instance_groups_project_id_idx ON instance_groups (project_id);

CREATE TABLE instance_group_policy (
    id          SERIAL PRIMARY KEY,
    policy      VARCHAR(255),
    rules       TEXT,
    group_id    INTEGER NOT NULL REFERENCES instance_groups (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ
);
CREATE INDEX instance_group_policy_policy_idx ON instance_group_policy (policy);
CREATE INDEX instance_group_policy_group_id_idx ON instance_group_policy (group_id);

CREATE TABLE instance_group_member (
    id             SERIAL PRIMARY KEY,
    instance_uuid  VARCHAR(255),
    group_id       INTEGER NOT NULL REFERENCES instance_groups (id) ON DELETE CASCADE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ
);
CREATE INDEX instance_group_member_instance_idx ON instance_group_member (instance_uuid);
CREATE INDEX instance_group_member_group_id_idx ON instance_group_member (group_id);
