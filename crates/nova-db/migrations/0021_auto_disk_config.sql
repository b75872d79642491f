-- OS-DCF:diskConfig AUTO, in Nova's column: asked at create, rebuild,
-- resize or update, or taken from the image's auto_disk_config property.
-- Nova's is nullable; here every row has a value (a NULL showed MANUAL),
-- so a listing sorted by it pages without NULLs. Its shadow gets it too.
ALTER TABLE instances ADD COLUMN auto_disk_config BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE shadow_instances ADD COLUMN auto_disk_config BOOLEAN NOT NULL DEFAULT false;
