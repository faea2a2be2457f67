//! DNS-name validation and owner names (filled in by its own change).
