-- The EC2 API's ids, as Nova's main database had them until Liberty: each
-- instance or image uuid gets a small integer once (`i-%08x`, `ami-%08x`),
-- on first reference, and keeps it; ids are never reused (a sequence).

CREATE TABLE instance_id_mappings (
    id         SERIAL PRIMARY KEY,
    uuid       VARCHAR(36) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ,
    deleted_at TIMESTAMPTZ,
    deleted    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ix_instance_id_mappings_uuid ON instance_id_mappings (uuid);

CREATE TABLE s3_images (
    id         SERIAL PRIMARY KEY,
    uuid       VARCHAR(36) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ,
    deleted_at TIMESTAMPTZ,
    deleted    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ix_s3_images_uuid ON s3_images (uuid);
