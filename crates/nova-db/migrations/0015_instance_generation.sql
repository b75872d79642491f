-- An instance's generation: a number that changes, in the writing
-- transaction, whenever the instance or anything a server body shows of it
-- changes (its row; its flavors, trusted certificates, network info,
-- metadata, system metadata, faults, tags and security groups, and the
-- names of those groups). nova-api keeps the instances of its recent
-- listings and asks the conductor to send only those whose generation is
-- not the one it holds (`instance_get_all_by_filters_known`).
--
-- The triggers make it impossible for a write to forget the bump: a row
-- trigger on `instances` itself, statement triggers (with their transition
-- tables) on the tables hanging off it. Writers that change an instance and
-- then a table hanging off it lock the instance first (the conductor's
-- writes do), so the triggers' updates of `instances` add no lock order of
-- their own. Compared for equality, never for order: a listing holds an
-- instance read no earlier than the generation it is filed under.
ALTER TABLE instances ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION instance_generation_next() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.generation := OLD.generation + 1;
    RETURN NEW;
END $$;

CREATE TRIGGER instances_generation BEFORE UPDATE ON instances
    FOR EACH ROW EXECUTE FUNCTION instance_generation_next();

-- The instances named by the statement's changed rows (new, old or both)
-- get their next generation: `instance_uuid` of the tables hanging off an
-- instance, `resource_id` of its tags. Static statements, so that
-- PL/pgSQL plans each once per session; `= ANY (ARRAY(...))`, so that
-- the plan is an index lookup per uuid whatever the statistics (without
-- any, `IN (SELECT ...)` was planned as a walk of the whole uuid index, a
-- cost per write that grew with the table). An instance whose row this
-- transaction has written already (created it, updated it: `xmin` is this
-- transaction) has its next generation in that row version, which becomes
-- visible with this write: no second row version for it (a boot's create
-- and its updates write an instance and then what hangs off it).
CREATE FUNCTION instance_generation_of_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE instances SET generation = generation + 1
         WHERE uuid = ANY (ARRAY(SELECT instance_uuid FROM changed_new))
           AND xmin <> pg_current_xact_id()::xid;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE instances SET generation = generation + 1
         WHERE uuid = ANY (ARRAY(SELECT instance_uuid FROM changed_old))
           AND xmin <> pg_current_xact_id()::xid;
    ELSE
        UPDATE instances SET generation = generation + 1
         WHERE uuid = ANY (ARRAY(SELECT instance_uuid FROM changed_new
                                UNION SELECT instance_uuid FROM changed_old))
           AND xmin <> pg_current_xact_id()::xid;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION instance_generation_of_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE instances SET generation = generation + 1
         WHERE uuid = ANY (ARRAY(SELECT resource_id FROM changed_new))
           AND xmin <> pg_current_xact_id()::xid;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE instances SET generation = generation + 1
         WHERE uuid = ANY (ARRAY(SELECT resource_id FROM changed_old))
           AND xmin <> pg_current_xact_id()::xid;
    ELSE
        UPDATE instances SET generation = generation + 1
         WHERE uuid = ANY (ARRAY(SELECT resource_id FROM changed_new
                                UNION SELECT resource_id FROM changed_old))
           AND xmin <> pg_current_xact_id()::xid;
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    t RECORD;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('instance_extra', 'instance_generation_of_changed'),
        ('instance_info_caches', 'instance_generation_of_changed'),
        ('instance_metadata', 'instance_generation_of_changed'),
        ('instance_system_metadata', 'instance_generation_of_changed'),
        ('instance_faults', 'instance_generation_of_changed'),
        ('security_group_instance_association', 'instance_generation_of_changed'),
        ('tags', 'instance_generation_of_tags')) AS v(tbl, fn)
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS changed_new
                        FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                       t.tbl || '_generation_ins', t.tbl, t.fn);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I
                        REFERENCING NEW TABLE AS changed_new OLD TABLE AS changed_old
                        FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                       t.tbl || '_generation_upd', t.tbl, t.fn);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS changed_old
                        FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                       t.tbl || '_generation_del', t.tbl, t.fn);
    END LOOP;
END $$;

-- A security group renamed or deleted changes the bodies of its instances.
CREATE FUNCTION instance_generation_of_group() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE instances SET generation = generation + 1
     WHERE uuid = ANY (ARRAY(
               SELECT a.instance_uuid
                 FROM security_group_instance_association a
                 JOIN changed_new g ON g.id = a.security_group_id
                 JOIN changed_old o ON o.id = g.id
                WHERE a.deleted = 0
                  AND (g.name IS DISTINCT FROM o.name OR g.deleted <> o.deleted)));
    RETURN NULL;
END $$;

CREATE TRIGGER security_groups_generation AFTER UPDATE ON security_groups
    REFERENCING NEW TABLE AS changed_new OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION instance_generation_of_group();
