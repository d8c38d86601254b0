-- A reaction with a slot's number on the run's checklist message (the herald's, not ours) claims
-- that slot too: the checklist is kept as a target (own = 0) and never redacted by this feature.
ALTER TABLE slots_message ADD COLUMN own INTEGER NOT NULL DEFAULT 1;
