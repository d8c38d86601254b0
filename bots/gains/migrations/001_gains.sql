-- The ledger of gains (bots/gains). Every row is its bot's (several bots share a database).
-- A gain: its category and text, no author and no head count. The text is forgotten after
-- features.gains.keep_text; the count of its category stays in gains_count.
CREATE TABLE gains_entry (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    category TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX gains_entry_room ON gains_entry (bot, room_id, created_at);
CREATE INDEX gains_entry_age ON gains_entry (created_at);
-- How many gains of each category a room has recorded (texts forgotten or not).
CREATE TABLE gains_count (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    category TEXT NOT NULL,
    n INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (bot, room_id, category)
);
-- How a room's gains reach a coalition's tally: counts only, with texts by name, or with
-- texts as "a member group".
CREATE TABLE gains_room (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    share TEXT NOT NULL CHECK (share IN ('counts', 'named', 'anonymous')),
    updated_at REAL NOT NULL,
    PRIMARY KEY (bot, room_id)
);
