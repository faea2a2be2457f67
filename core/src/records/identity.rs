//! identity record (filled in by its own change).
