-- A room's liaison and backup are forgotten `liaison_keep` (30 days by default) after the term
-- ends, or after they were named when there is no term; a new draw or backup renews the row.
ALTER TABLE dayofaction_liaison ADD COLUMN forget_at REAL;
UPDATE dayofaction_liaison
SET forget_at = COALESCE(term_end, CAST(strftime('%s', 'now') AS REAL)) + 30 * 86400;
