//! One module per DMP record type (PROTOCOL.md §1–§2). Each offers a typed
//! struct, `to_wire` (build + sign) and `parse_and_verify`.

pub mod bootstrap;
pub mod chunk;
pub mod claim;
pub mod cluster;
pub mod heartbeat;
pub mod identity;
pub mod manifest;
pub mod prekey;
pub mod revocation;
pub mod rotation;
