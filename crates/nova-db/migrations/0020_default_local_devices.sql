-- The flavor's ephemeral and swap disks, in Nova's columns: the device the
-- compute host gave each (/dev/vdb, ...) when it built the guest, NULL when
-- the flavor has none. The metadata's block-device-mapping lists them as
-- ephemeral0 and swap. Their shadow gets them too (0018).
ALTER TABLE instances ADD COLUMN default_ephemeral_device VARCHAR(255);
ALTER TABLE instances ADD COLUMN default_swap_device VARCHAR(255);
ALTER TABLE shadow_instances ADD COLUMN default_ephemeral_device VARCHAR(255);
ALTER TABLE shadow_instances ADD COLUMN default_swap_device VARCHAR(255);
