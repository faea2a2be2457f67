//! DNS wire handling shared by every node and client (feature `dns`): filled in by its own change.
