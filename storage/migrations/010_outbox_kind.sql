-- What an outbox row sends: a message, an edit (a message replacing another), a redaction, or a
-- file upload (bots/runtime/delivery.py sends each its way). Rows written before this step are
-- messages; the contract's first redactions and uploads (queued under the pseudo event types
-- m.room.redaction and org.affinity.upload) are given their kind.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'message'
    CHECK (kind IN ('message', 'edit', 'redaction', 'upload'));
UPDATE outbox SET kind = 'redaction' WHERE event_type = 'm.room.redaction';
UPDATE outbox SET kind = 'upload' WHERE event_type = 'org.affinity.upload';
