//! The two coding layers of PROTOCOL.md §5.

pub mod reedsolo;
pub mod zfec;
