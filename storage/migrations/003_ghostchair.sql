-- Ghost chair: each room's absent voices (ordered) and reminder rotation, and its scheduled
-- gatherings. Rows are the source of truth; scheduler jobs are rebuilt from them and carry
-- only the gathering id. A room's default zone lives in room_setting (key 'zone').
-- Gatherings past their sunset, once fully handled, are deleted (see storage/ghostchair.py).
CREATE TABLE ghost_room (
    room_id TEXT PRIMARY KEY,
    -- How many reminders the room has had: picks the next voice and framing.
    rotation INTEGER NOT NULL DEFAULT 0 CHECK (rotation >= 0),
    updated_at REAL NOT NULL
);
CREATE TABLE ghost_voice (
    room_id TEXT NOT NULL REFERENCES ghost_room (room_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (room_id, position)
);
CREATE TABLE ghost_gathering (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('weekly', 'once')),
    weekday INTEGER CHECK (weekday BETWEEN 0 AND 6),
    hhmm TEXT,
    zone TEXT NOT NULL,
    at_utc REAL,
    draw INTEGER NOT NULL DEFAULT 0 CHECK (draw IN (0, 1)),
    remind_before_s INTEGER CHECK (remind_before_s > 0),
    care_after_s INTEGER CHECK (care_after_s > 0),
    end_date TEXT,
    -- Derived from the schedule when stored, so SQL can find what is past its sunset:
    -- from ends_utc on no occurrence remains; final_utc is the last occurrence ever.
    ends_utc REAL,
    final_utc REAL,
    last_fired_occurrence_utc REAL,
    last_reminded_occurrence_utc REAL,
    last_cared_occurrence_utc REAL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    CHECK (
        (kind = 'weekly' AND weekday IS NOT NULL AND hhmm IS NOT NULL AND at_utc IS NULL)
        OR (kind = 'once' AND at_utc IS NOT NULL AND weekday IS NULL AND hhmm IS NULL
            AND end_date IS NULL)
    )
);
CREATE INDEX ghost_gathering_room ON ghost_gathering (room_id, id);
CREATE INDEX ghost_gathering_ends ON ghost_gathering (ends_utc);
