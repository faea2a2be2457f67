//! cluster record (filled in by its own change).
