-- nova-network's floating IPs, as Nova's main database has them
-- (`nova/db/sqlalchemy/models.py` FloatingIp): created by
-- `nova-manage floating create`, allocated to a project, associated with
-- one fixed IP at a time.

CREATE TABLE floating_ips (
    id            SERIAL PRIMARY KEY,
    address       VARCHAR(39) NOT NULL,
    fixed_ip_id   INTEGER REFERENCES fixed_ips(id),
    project_id    VARCHAR(255),
    host          VARCHAR(255),
    auto_assigned BOOLEAN NOT NULL DEFAULT FALSE,
    pool          VARCHAR(255),
    interface     VARCHAR(255),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ,
    deleted_at    TIMESTAMPTZ,
    deleted       INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_floating_ips0address0deleted UNIQUE (address, deleted)
);

CREATE INDEX floating_ips_host_idx ON floating_ips (host);
CREATE INDEX floating_ips_project_id_idx ON floating_ips (project_id);
CREATE INDEX floating_ips_pool_deleted_fixed_ip_id_project_id_idx
    ON floating_ips (pool, deleted, fixed_ip_id, project_id);
