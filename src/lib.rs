//! eie-bench's library side: backend identities and the registry of every backend we compare, the
//! measurement harness and the record it produces, shared by the `eie` command and the criterion benches.

pub mod backend_id;
pub mod harness;
pub mod power;
pub mod record;
pub mod registry;
