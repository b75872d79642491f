-- Nova's main database schema, for what this project uses today.
-- Table and column names follow nova/db/main/models.py. Soft delete as Nova:
-- `deleted` is 0 for live rows and equals `id` for deleted ones, so unique
-- constraints can include it.

CREATE TABLE services (
    id              SERIAL PRIMARY KEY,
    uuid            VARCHAR(36) NOT NULL UNIQUE,
    host            VARCHAR(255) NOT NULL,
    "binary"        VARCHAR(255) NOT NULL,
    topic           VARCHAR(255),
    report_count    INTEGER NOT NULL DEFAULT 0,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason VARCHAR(255),
    forced_down     BOOLEAN NOT NULL DEFAULT FALSE,
    version         INTEGER NOT NULL DEFAULT 0,
    last_seen_up    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ,
    deleted_at      TIMESTAMPTZ,
    deleted         INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_services0host0binary0deleted UNIQUE (host, "binary", deleted)
);

CREATE TABLE compute_nodes (
    id                    SERIAL PRIMARY KEY,
    uuid                  VARCHAR(36) NOT NULL UNIQUE,
    service_id            INTEGER,
    host                  VARCHAR(255) NOT NULL,
    hypervisor_hostname   VARCHAR(255) NOT NULL,
    hypervisor_type       TEXT NOT NULL,
    hypervisor_version    BIGINT NOT NULL DEFAULT 0,
    cpu_info              TEXT NOT NULL DEFAULT '',
    host_ip               VARCHAR(39),
    vcpus                 INTEGER NOT NULL,
    memory_mb             INTEGER NOT NULL,
    local_gb              INTEGER NOT NULL,
    vcpus_used            INTEGER NOT NULL DEFAULT 0,
    memory_mb_used        INTEGER NOT NULL DEFAULT 0,
    local_gb_used         INTEGER NOT NULL DEFAULT 0,
    free_ram_mb           INTEGER NOT NULL DEFAULT 0,
    free_disk_gb          INTEGER NOT NULL DEFAULT 0,
    current_workload      INTEGER NOT NULL DEFAULT 0,
    running_vms           INTEGER NOT NULL DEFAULT 0,
    disk_available_least  INTEGER,
    reserved_host_memory_mb INTEGER NOT NULL DEFAULT 0,
    reserved_host_disk_mb INTEGER NOT NULL DEFAULT 0,
    reserved_host_cpus    INTEGER NOT NULL DEFAULT 0,
    cpu_allocation_ratio  DOUBLE PRECISION NOT NULL DEFAULT 16.0,
    ram_allocation_ratio  DOUBLE PRECISION NOT NULL DEFAULT 1.5,
    disk_allocation_ratio DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ,
    deleted_at            TIMESTAMPTZ,
    deleted               INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_compute_nodes0host0hypervisor_hostname0deleted UNIQUE (host, hypervisor_hostname, deleted)
);

CREATE TABLE instance_types (
    id           SERIAL PRIMARY KEY,
    name         VARCHAR(255) NOT NULL,
    flavorid     VARCHAR(255) NOT NULL,
    memory_mb    INTEGER NOT NULL,
    vcpus        INTEGER NOT NULL,
    root_gb      INTEGER NOT NULL DEFAULT 0,
    ephemeral_gb INTEGER NOT NULL DEFAULT 0,
    swap         INTEGER NOT NULL DEFAULT 0,
    rxtx_factor  DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    vcpu_weight  INTEGER,
    disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    is_public    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ,
    deleted_at   TIMESTAMPTZ,
    deleted      INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_instance_types0name0deleted UNIQUE (name, deleted),
    CONSTRAINT uniq_instance_types0flavorid0deleted UNIQUE (flavorid, deleted)
);

CREATE TABLE instance_type_extra_specs (
    id               SERIAL PRIMARY KEY,
    instance_type_id INTEGER NOT NULL REFERENCES instance_types(id),
    key              VARCHAR(255) NOT NULL,
    value            VARCHAR(255),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ,
    deleted_at       TIMESTAMPTZ,
    deleted          INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_instance_type_extra_specs0instance_type_id0key0deleted UNIQUE (instance_type_id, key, deleted)
);

CREATE TABLE instances (
    id                  SERIAL PRIMARY KEY,
    uuid                VARCHAR(36) NOT NULL UNIQUE,
    user_id             VARCHAR(255) NOT NULL,
    project_id          VARCHAR(255) NOT NULL,
    display_name        VARCHAR(255) NOT NULL,
    display_description TEXT,
    hostname            VARCHAR(255) NOT NULL DEFAULT '',
    image_ref           VARCHAR(255) NOT NULL DEFAULT '',
    instance_type_id    INTEGER NOT NULL,
    memory_mb           INTEGER NOT NULL,
    vcpus               INTEGER NOT NULL,
    root_gb             INTEGER NOT NULL,
    ephemeral_gb        INTEGER NOT NULL,
    vm_state            VARCHAR(255) NOT NULL,
    task_state          VARCHAR(255),
    power_state         INTEGER NOT NULL DEFAULT 0,
    host                VARCHAR(255),
    node                VARCHAR(255),
    launched_on         TEXT,
    availability_zone   VARCHAR(255),
    key_name            VARCHAR(255),
    key_data            TEXT,
    user_data           TEXT,
    reservation_id      VARCHAR(255) NOT NULL,
    launch_index        INTEGER NOT NULL DEFAULT 0,
    access_ip_v4        VARCHAR(39),
    access_ip_v6        VARCHAR(39),
    config_drive        VARCHAR(255) NOT NULL DEFAULT '',
    locked              BOOLEAN NOT NULL DEFAULT FALSE,
    locked_by           VARCHAR(255),
    kernel_id           VARCHAR(255) NOT NULL DEFAULT '',
    ramdisk_id          VARCHAR(255) NOT NULL DEFAULT '',
    root_device_name    VARCHAR(255),
    progress            INTEGER NOT NULL DEFAULT 0,
    launched_at         TIMESTAMPTZ,
    terminated_at       TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ,
    deleted_at          TIMESTAMPTZ,
    deleted             INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX instances_project_id_deleted_idx ON instances (project_id, deleted);
CREATE INDEX instances_host_deleted_idx ON instances (host, deleted);
CREATE INDEX instances_deleted_created_at_idx ON instances (deleted, created_at);

-- Nova keeps the flavor an instance was built with in instance_extra.
CREATE TABLE instance_extra (
    id            SERIAL PRIMARY KEY,
    instance_uuid VARCHAR(36) NOT NULL UNIQUE REFERENCES instances(uuid),
    flavor        TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ,
    deleted_at    TIMESTAMPTZ,
    deleted       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE instance_info_caches (
    id            SERIAL PRIMARY KEY,
    instance_uuid VARCHAR(36) NOT NULL UNIQUE REFERENCES instances(uuid),
    network_info  TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ,
    deleted_at    TIMESTAMPTZ,
    deleted       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE instance_metadata (
    id            SERIAL PRIMARY KEY,
    instance_uuid VARCHAR(36) NOT NULL REFERENCES instances(uuid),
    key           VARCHAR(255) NOT NULL,
    value         VARCHAR(255),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ,
    deleted_at    TIMESTAMPTZ,
    deleted       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX instance_metadata_instance_uuid_idx ON instance_metadata (instance_uuid);

CREATE TABLE instance_system_metadata (
    id            SERIAL PRIMARY KEY,
    instance_uuid VARCHAR(36) NOT NULL REFERENCES instances(uuid),
    key           VARCHAR(255) NOT NULL,
    value         VARCHAR(255),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ,
    deleted_at    TIMESTAMPTZ,
    deleted       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX instance_system_metadata_instance_uuid_idx ON instance_system_metadata (instance_uuid);

CREATE TABLE instance_faults (
    id            SERIAL PRIMARY KEY,
    instance_uuid VARCHAR(36) NOT NULL REFERENCES instances(uuid),
    code          INTEGER NOT NULL,
    message       VARCHAR(255),
    details       TEXT,
    host          VARCHAR(255),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ,
    deleted_at    TIMESTAMPTZ,
    deleted       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX instance_faults_instance_uuid_deleted_created_at_idx ON instance_faults (instance_uuid, deleted, created_at);

CREATE TABLE instance_actions (
    id            SERIAL PRIMARY KEY,
    action        VARCHAR(255),
    instance_uuid VARCHAR(36) NOT NULL,
    request_id    VARCHAR(255),
    user_id       VARCHAR(255),
    project_id    VARCHAR(255),
    start_time    TIMESTAMPTZ,
    finish_time   TIMESTAMPTZ,
    message       VARCHAR(255),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ,
    deleted_at    TIMESTAMPTZ,
    deleted       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX instance_uuid_idx ON instance_actions (instance_uuid);
CREATE INDEX request_id_idx ON instance_actions (request_id);

CREATE TABLE instance_actions_events (
    id          SERIAL PRIMARY KEY,
    event       VARCHAR(255),
    action_id   INTEGER NOT NULL REFERENCES instance_actions(id),
    start_time  TIMESTAMPTZ,
    finish_time TIMESTAMPTZ,
    result      VARCHAR(255),
    traceback   TEXT,
    host        VARCHAR(255),
    details     TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ,
    deleted_at  TIMESTAMPTZ,
    deleted     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE networks (
    id                  SERIAL PRIMARY KEY,
    uuid                VARCHAR(36) NOT NULL UNIQUE,
    label               VARCHAR(255),
    injected            BOOLEAN NOT NULL DEFAULT FALSE,
    cidr                VARCHAR(43),
    cidr_v6             VARCHAR(43),
    multi_host          BOOLEAN NOT NULL DEFAULT FALSE,
    gateway             VARCHAR(39),
    broadcast           VARCHAR(39),
    netmask             VARCHAR(39),
    bridge              VARCHAR(255),
    bridge_interface    VARCHAR(255),
    dns1                VARCHAR(39),
    dns2                VARCHAR(39),
    vlan                INTEGER,
    vpn_public_address  VARCHAR(39),
    vpn_public_port     INTEGER,
    vpn_private_address VARCHAR(39),
    dhcp_start          VARCHAR(39),
    dhcp_server         VARCHAR(39),
    enable_dhcp         BOOLEAN NOT NULL DEFAULT TRUE,
    share_address       BOOLEAN NOT NULL DEFAULT FALSE,
    mtu                 INTEGER,
    rxtx_base           INTEGER,
    project_id          VARCHAR(255),
    priority            INTEGER,
    host                VARCHAR(255),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ,
    deleted_at          TIMESTAMPTZ,
    deleted             INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_networks0vlan0deleted UNIQUE (vlan, deleted)
);

CREATE TABLE virtual_interfaces (
    id            SERIAL PRIMARY KEY,
    uuid          VARCHAR(36) NOT NULL,
    address       VARCHAR(255) NOT NULL,
    network_id    INTEGER,
    instance_uuid VARCHAR(36) REFERENCES instances(uuid),
    tag           VARCHAR(255),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ,
    deleted_at    TIMESTAMPTZ,
    deleted       INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_virtual_interfaces0address0deleted UNIQUE (address, deleted)
);

CREATE TABLE fixed_ips (
    id                   SERIAL PRIMARY KEY,
    address              VARCHAR(39) NOT NULL,
    network_id           INTEGER REFERENCES networks(id),
    virtual_interface_id INTEGER,
    instance_uuid        VARCHAR(36),
    allocated            BOOLEAN NOT NULL DEFAULT FALSE,
    leased               BOOLEAN NOT NULL DEFAULT FALSE,
    reserved             BOOLEAN NOT NULL DEFAULT FALSE,
    host                 VARCHAR(255),
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ,
    deleted_at           TIMESTAMPTZ,
    deleted              INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT uniq_fixed_ips0address0deleted UNIQUE (address, deleted)
);
CREATE INDEX fixed_ips_network_id_host_deleted_idx ON fixed_ips (network_id, host, deleted);
CREATE INDEX fixed_ips_instance_uuid_fkey ON fixed_ips (instance_uuid);

-- Nova's default flavors (m1.*), created by the migration as nova-manage did.
INSERT INTO instance_types (name, flavorid, memory_mb, vcpus, root_gb, ephemeral_gb) VALUES
    ('m1.tiny', '1', 512, 1, 1, 0),
    ('m1.small', '2', 2048, 1, 20, 0),
    ('m1.medium', '3', 4096, 2, 40, 0),
    ('m1.large', '4', 8192, 4, 80, 0),
    ('m1.xlarge', '5', 16384, 8, 160, 0);
