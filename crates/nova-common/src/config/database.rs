//! `[database]`, as oslo.db names it.

use super::opt::{at_least, config_section, string};

config_section! {
    /// `[database]`.
    pub struct DatabaseSection in "database" {
        /// The database URL: postgresql://user@host/dbname. Read by nova-conductor and nova-manage only.
        connection: String = "", string();
        /// Maximum number of database connections in the pool.
        max_pool_size: u32 = "5", at_least(1);
    }
}
