//! The `dnsmesh` CLI as a library: local state compatible with the
//! reference 0.7.5 (config directory and `config.yaml`, per-node token
//! files, passphrase sources and key derivation, `prekeys.db`,
//! `replay_cache.json`), the network layer (`net`) and the command
//! implementations the binary (`src/main.rs`) wires to clap.

pub mod cluster;
pub mod config;
pub mod ctx;
pub mod intros;
pub mod keys;
pub mod messaging;
pub mod net;
pub mod prekeys;
pub mod registration;
pub mod replay;
pub mod rng;
pub mod rotate;
pub mod tokens;
pub mod yaml;
