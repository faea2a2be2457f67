-- Edge node (D1) migration 3: drop the two indexes that duplicate a prefix
-- of another index (idx_records_name of the primary key, idx_records_stored_ts
-- of idx_records_page). Migration 1 no longer creates them; this removes
-- them from databases made by its earlier text. Idempotent.

DROP INDEX IF EXISTS idx_records_name;
DROP INDEX IF EXISTS idx_records_stored_ts;
