-- NUMA topologies and CPU pinning, in Nova's columns:
-- compute_nodes.numa_topology: the host's cells as its compute host reports
--   them, with what the instances there use (recounted with the node's usage);
--   NULL for a hypervisor that reports none (FakeDriver by default).
-- instance_extra.numa_topology: the instance's cells fitted to its host (host
--   cell of each guest cell, host CPU of each pinned vCPU, page size).
-- instance_extra.migration_context: during a move, the topology fitted to the
--   destination (`new_numa_topology`) and the destination it is for.
ALTER TABLE compute_nodes ADD COLUMN numa_topology TEXT;
ALTER TABLE instance_extra ADD COLUMN numa_topology TEXT;
ALTER TABLE instance_extra ADD COLUMN migration_context TEXT;
