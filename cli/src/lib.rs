//! Local state of the `dnsmesh` CLI, compatible with the reference 0.7.5:
//! config directory and `config.yaml`, per-node token files, passphrase
//! sources and key derivation. The binary (`src/main.rs`) wires commands.

pub mod config;
pub mod keys;
pub mod prekeys;
pub mod replay;
pub mod tokens;
pub mod yaml;
