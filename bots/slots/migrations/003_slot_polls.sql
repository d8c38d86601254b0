-- A slot poll (m.poll.start) the bot posted is one of its messages about the run, redacted with
-- it: `poll` is 1 while it is open (one per room and run), 2 once ended, 0 for any other message
-- (only those take a reaction as a claim); `answers` are the slots it offered, one per line.
ALTER TABLE slots_message ADD COLUMN poll INTEGER NOT NULL DEFAULT 0;
ALTER TABLE slots_message ADD COLUMN answers TEXT;
