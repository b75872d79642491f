-- A project's servers listing (`servers/detail` without all_tenants) is
-- newest first: `WHERE project_id = $1 AND deleted = 0 ORDER BY created_at
-- DESC, id DESC LIMIT n`. With only (project_id, deleted) and (deleted,
-- created_at), PostgreSQL either sorts all of the project's instances or
-- walks every project's newest instances until it has the page, so a
-- listing's time grew with the servers of other projects. This index
-- gives the page in order, whatever else the table holds.
CREATE INDEX instances_project_id_deleted_created_at_idx
    ON instances (project_id, deleted, created_at, id);
