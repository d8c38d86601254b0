-- An outbox row may be urgent (a herald's stand-down): its room takes the next sending turn
-- before the rooms already waiting. The sender says so when it queues the row; the outbox no
-- longer reads a feature's transaction ids. A stand-down still pending from before this step
-- (a herald's plan key ``cancel``: aff-<run>-cancel-<room hash>) keeps its place at the front.
ALTER TABLE outbox ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0 CHECK (urgent IN (0, 1));
UPDATE outbox SET urgent = 1 WHERE state = 'pending' AND txn_id LIKE 'aff-%-cancel-%';
