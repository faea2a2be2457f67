//! Anti-entropy rules shared by nodes (digest/pull shapes, cursors, checks).
