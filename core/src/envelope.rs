//! DMPv2 plaintext envelope and address canonicalization (filled in by its own change).
