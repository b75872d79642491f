-- Device role tagging, in Nova's column: instance_extra.device_metadata holds
-- where the hypervisor put each device the user tagged (the tag itself is
-- virtual_interfaces.tag, there since 0001), as the compute host found it
-- once the guest was defined; NULL when none is tagged. Its shadow gets it
-- too (0018).
ALTER TABLE instance_extra ADD COLUMN device_metadata TEXT;
ALTER TABLE shadow_instance_extra ADD COLUMN device_metadata TEXT;
