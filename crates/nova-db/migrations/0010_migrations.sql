-- Nova's `migrations` table: one row per resize, cold or live migration and
-- evacuation of an instance (none are written yet; os-migrations lists them).

CREATE TABLE migrations (
    id                   SERIAL PRIMARY KEY,
    uuid                 UUID NOT NULL UNIQUE,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ,
    deleted_at           TIMESTAMPTZ,
    deleted              INTEGER NOT NULL DEFAULT 0,
    source_compute       VARCHAR(255),
    dest_compute         VARCHAR(255),
    dest_host            VARCHAR(255),
    status               VARCHAR(255),
    instance_uuid        UUID,
    old_instance_type_id INTEGER,
    new_instance_type_id INTEGER,
    source_node          VARCHAR(255),
    dest_node            VARCHAR(255),
    migration_type       VARCHAR(255),
    hidden               BOOLEAN NOT NULL DEFAULT false,
    memory_total         BIGINT,
    memory_processed     BIGINT,
    memory_remaining     BIGINT,
    disk_total           BIGINT,
    disk_processed       BIGINT,
    disk_remaining       BIGINT,
    cross_cell_move      BOOLEAN NOT NULL DEFAULT false,
    user_id              VARCHAR(255),
    project_id           VARCHAR(255)
);
CREATE INDEX migrations_instance_uuid_and_status_idx ON migrations (deleted, instance_uuid, status);
CREATE INDEX migrations_updated_at_idx ON migrations (updated_at);
