-- Native affordances (issue 17).
-- herald_pin: the phase message a run pinned in a member room (one row per run and room: the
-- latest phase), so that a later phase replaces exactly it and a restarted herald unpins what it
-- pinned, and never a pin people set themselves. A row goes once its pin is taken down (the run
-- ended, the room left), at the latest with its run (retention.protocol_runs), or with the room
-- when the bot is removed from it.
CREATE TABLE herald_pin (
    bot TEXT NOT NULL,
    run_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    pinned_at INTEGER NOT NULL,
    PRIMARY KEY (bot, run_id, room_id)
);
CREATE INDEX herald_pin_room ON herald_pin (bot, room_id);
-- herald_space: the Matrix space this bot made for a coalition (!coalition space). Which rooms it
-- lists is the space's own state; the row lives as long as the coalition does.
CREATE TABLE herald_space (
    bot TEXT NOT NULL,
    coalition TEXT NOT NULL,
    space_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (bot, coalition)
);
CREATE UNIQUE INDEX herald_space_room ON herald_space (bot, space_id);
