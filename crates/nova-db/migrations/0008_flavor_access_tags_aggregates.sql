-- Flavor descriptions (microversion 2.55), flavor access for private
-- flavors, and server tags (2.26), as Nova's databases have them.

ALTER TABLE instance_types ADD COLUMN description TEXT;

CREATE TABLE instance_type_projects (
    id               SERIAL PRIMARY KEY,
    instance_type_id INTEGER NOT NULL REFERENCES instance_types(id),
    project_id       VARCHAR(255) NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ,
    deleted_at       TIMESTAMPTZ,
    deleted          INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_instance_type_projects0instance_type_id0project_id0deleted
        UNIQUE (instance_type_id, project_id, deleted)
);

CREATE TABLE tags (
    resource_id VARCHAR(36) NOT NULL,
    tag         VARCHAR(80) NOT NULL,
    PRIMARY KEY (resource_id, tag)
);
CREATE INDEX tags_tag_idx ON tags (tag);

-- Host aggregates, as Nova's API database has them (no soft delete there);
-- an aggregate's availability zone is its `availability_zone` metadata.
CREATE TABLE aggregates (
    id         SERIAL PRIMARY KEY,
    uuid       VARCHAR(36) NOT NULL UNIQUE,
    name       VARCHAR(255) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ,
    CONSTRAINT uniq_aggregate0name UNIQUE (name)
);

CREATE TABLE aggregate_hosts (
    id           SERIAL PRIMARY KEY,
    host         VARCHAR(255) NOT NULL,
    aggregate_id INTEGER NOT NULL REFERENCES aggregates(id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ,
    CONSTRAINT uniq_aggregate_hosts0host0aggregate_id UNIQUE (host, aggregate_id)
);

CREATE TABLE aggregate_metadata (
    id           SERIAL PRIMARY KEY,
    aggregate_id INTEGER NOT NULL REFERENCES aggregates(id),
    key          VARCHAR(255) NOT NULL,
    value        VARCHAR(255) NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ,
    CONSTRAINT uniq_aggregate_metadata0aggregate_id0key UNIQUE (aggregate_id, key)
);
