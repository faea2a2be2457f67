//! rotation record (filled in by its own change).
