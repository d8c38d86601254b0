-- A gathering on a recurrence beyond weekly: its ghost_gathering row holds the steps done and
-- the options (as a weekly row on the first occurrence's weekday, so every reader of that table
-- stays valid); this row holds the recurrence as typed and the day counting starts from.
CREATE TABLE ghostchair_recurrence (
    gathering_id INTEGER PRIMARY KEY REFERENCES ghost_gathering (id) ON DELETE CASCADE,
    recurrence TEXT NOT NULL,
    start_date TEXT NOT NULL
);
