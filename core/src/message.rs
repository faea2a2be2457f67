//! DMPHeader JSON, AAD and outer message framing (filled in by its own change).
