-- The example feature's notes: the room, the text, the bot's reply (redacted when the note is
-- forgotten) and when it was kept. Forgotten after features.example.keep, or with the room.
CREATE TABLE example_note (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id TEXT NOT NULL,
    text TEXT NOT NULL,
    reply_event_id TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX example_note_age ON example_note (created_at);
