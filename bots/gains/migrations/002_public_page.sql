-- Whether a coalition's public page (the calendar's, bots/calendar) shows the coalition's gains
-- counted by category: chosen in its coordination room with !gains public on|off, off until
-- then. Kept until changed, or until the bot leaves the room (forget_room deletes the row).
ALTER TABLE gains_room ADD COLUMN public_page INTEGER NOT NULL DEFAULT 0 CHECK (public_page IN (0, 1));
