//! zfec-compatible k-of-n erasure code (filled in by its own change).
