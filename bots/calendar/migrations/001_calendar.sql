-- The public calendar's own tables (its events move here from the herald's herald_event, which
-- the feature copies once at start when that table exists: see bots/calendar/legacy.py).
CREATE TABLE calendar_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    coalition TEXT NOT NULL,
    room_id TEXT NOT NULL,
    uid TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL,
    zone TEXT NOT NULL,
    place TEXT,
    private INTEGER NOT NULL DEFAULT 0,
    sequence INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL,
    cancelled_at REAL,
    cancel_reason TEXT
);
CREATE INDEX calendar_event_coalition ON calendar_event (bot, coalition, starts_at);
CREATE INDEX calendar_event_room ON calendar_event (bot, room_id);
-- A coalition's public address: the token is the capability (rotate replaces it, off deletes it).
CREATE TABLE calendar_publish (
    bot TEXT NOT NULL,
    coalition TEXT NOT NULL,
    room_id TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    PRIMARY KEY (bot, coalition)
);
-- Another coalition's public feed merged into this one; body is its last good copy.
CREATE TABLE calendar_follow (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    coalition TEXT NOT NULL,
    room_id TEXT NOT NULL,
    url TEXT NOT NULL,
    label TEXT NOT NULL,
    body BLOB NOT NULL,
    added_at REAL NOT NULL,
    fetched_at REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    UNIQUE (bot, coalition, url)
);
-- A room that keeps its name off the public calendar (!local set public_name off).
CREATE TABLE calendar_room (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    public_name INTEGER NOT NULL,
    PRIMARY KEY (bot, room_id)
);
-- Rows copied once from another table (the herald's events), so the copy is never repeated.
CREATE TABLE calendar_imported (
    source TEXT PRIMARY KEY,
    rows INTEGER NOT NULL,
    imported_at REAL NOT NULL
);
