//! heartbeat record (filled in by its own change).
