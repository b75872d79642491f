-- Quota classes, as Nova's API database has them: per class name, a limit
-- per resource. The `default` class overrides the `[quota]` defaults.

CREATE TABLE quota_classes (
    id          SERIAL PRIMARY KEY,
    class_name  VARCHAR(255) NOT NULL,
    resource    VARCHAR(255) NOT NULL,
    hard_limit  INTEGER,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ,
    CONSTRAINT uniq_quota_classes0class_name0resource UNIQUE (class_name, resource)
);
CREATE INDEX quota_classes_class_name_idx ON quota_classes (class_name);
