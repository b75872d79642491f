-- Shadow tables (Nova's `shadow_*`): `nova-manage db archive_deleted_rows`
-- moves soft-deleted rows (deleted != 0), with the rows that refer to them
-- by foreign key, into them; `nova-manage db purge` empties them. One per
-- table with a `deleted` column, with its columns in its order and no
-- constraint beyond NOT NULL (rows are only ever copied in and deleted).
-- A later migration that adds such a table, or a column to one, adds it to
-- its shadow too (nova-db's test `every_soft_deleted_table_has_its_shadow`).
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT c.table_name
        FROM information_schema.columns c
        JOIN information_schema.tables tb
          ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
        WHERE c.table_schema = current_schema()
          AND tb.table_type = 'BASE TABLE'
          AND c.column_name = 'deleted'
          AND c.table_name NOT LIKE 'shadow\_%'
        ORDER BY c.table_name
    LOOP
        EXECUTE format('CREATE TABLE %I (LIKE %I)', 'shadow_' || t, t);
    END LOOP;
END
$$;
