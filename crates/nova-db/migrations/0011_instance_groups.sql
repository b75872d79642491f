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

-- Nova's `task_log`: one row per host and run of a periodic audit task
-- (`instance_usage_audit`); os-instance_usage_audit_log reports them.
CREATE TABLE task_log (
    id                SERIAL PRIMARY KEY,
    task_name         VARCHAR(255) NOT NULL,
    state             VARCHAR(255) NOT NULL,
    host              VARCHAR(255) NOT NULL,
    period_beginning  TIMESTAMPTZ NOT NULL,
    period_ending     TIMESTAMPTZ NOT NULL,
    message           VARCHAR(255) NOT NULL,
    task_items        INTEGER DEFAULT 0,
    errors            INTEGER DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ,
    deleted_at        TIMESTAMPTZ,
    deleted           INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_task_log0task_name0host0period_beginning0period_ending
        UNIQUE (task_name, host, period_beginning, period_ending)
);
CREATE INDEX ix_task_log_period_beginning ON task_log (period_beginning);
CREATE INDEX ix_task_log_host ON task_log (host);
CREATE INDEX ix_task_log_period_ending ON task_log (period_ending);
