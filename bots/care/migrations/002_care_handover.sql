-- Handover notes: asked of a mandate's holder by DM before it ends, delivered by DM to the
-- next holder only, once, and deleted then (or after the handover retention). The note is the
-- only copy; nothing about it goes to the room.
CREATE TABLE care_handover (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    role TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires REAL NOT NULL,
    asked_at REAL,
    dm_room TEXT,
    note TEXT,
    created_at REAL NOT NULL,
    UNIQUE (bot, room_id, role, holder)
);
