//! The sans-IO client (filled in by its own change).
