//! reedsolo-compatible per-chunk Reed-Solomon (filled in by its own change).
