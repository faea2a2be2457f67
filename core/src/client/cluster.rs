//! Cluster-mode client logic (quorum writes, union reads, manifest refresh).
