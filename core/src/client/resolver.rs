//! Resolver pool: failover, cooldown and lying-resolver demotion (PROTOCOL.md §9).
