-- A resize or cold migration keeps the flavor before it and the one it goes
-- to beside the instance's current flavor (Nova's `instance_extra.flavor`
-- holds {cur, old, new}; here one JSON column each), until it is confirmed
-- or reverted. The compute nodes' usage counts a migration in progress on
-- both of its hosts from these.
ALTER TABLE instance_extra ADD COLUMN old_flavor TEXT;
ALTER TABLE instance_extra ADD COLUMN new_flavor TEXT;
