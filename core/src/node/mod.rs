//! Rules both nodes enforce (publish validation, authorization, rate limits): filled in by its own change.
