//! revocation record (filled in by its own change).
