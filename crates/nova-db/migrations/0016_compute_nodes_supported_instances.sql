-- The guests each hypervisor can run, as Nova's `compute_nodes.supported_instances`:
-- a JSON list of [architecture, hypervisor type, VM mode], written by the
-- compute host's report and read by the scheduler's ImagePropertiesFilter.
ALTER TABLE compute_nodes ADD COLUMN supported_instances TEXT NOT NULL DEFAULT '[]';
