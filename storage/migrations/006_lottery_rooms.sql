-- Role lottery, part two: per-room options (commitment window, redraw when a mandate ends) and
-- the rooms made for affinity cells (!cells ... rooms), each with its sunset. A cell room's row
-- is written before the room is created, so a command handled again after a crash reuses the
-- same cells; it is deleted once the bot has posted its closing note and left.
CREATE TABLE lottery_room_option (
    room_id TEXT PRIMARY KEY,
    -- Seconds between the commitment and the reveal; NULL: the configured default.
    commit_window_s INTEGER CHECK (commit_window_s > 0),
    -- Draw again when a mandate ends (1) or not (0); NULL: the configured default.
    redraw INTEGER CHECK (redraw IN (0, 1)),
    updated_at REAL NOT NULL
);
CREATE TABLE lottery_cell_room (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_room_id TEXT NOT NULL,
    -- The stable key of the command that made the cells (one set of cells per command).
    source TEXT NOT NULL,
    cell_index INTEGER NOT NULL CHECK (cell_index >= 0),
    -- JSON list of the members invited to the cell.
    members TEXT NOT NULL,
    -- NULL until the room is created.
    room_id TEXT UNIQUE,
    sunset_at REAL NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (source, cell_index)
);
CREATE INDEX lottery_cell_room_sunset ON lottery_cell_room (sunset_at);
