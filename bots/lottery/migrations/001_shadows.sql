-- Shadows (!draw <role> shadow): a member who never held a role, drawn by the same
-- commit-reveal as its holder, sits beside the holder for the mandate (until expires) and is
-- first in the pool when the role is drawn next. One row per (bot, room, role): the next draw
-- of the role replaces it (or deletes it when it drew no shadow). Forgotten with the draw
-- history (retention.draw_history), and with the room.
CREATE TABLE lottery_shadow (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    role TEXT NOT NULL,
    member TEXT NOT NULL,
    draw_id TEXT NOT NULL,
    started REAL NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (bot, room_id, role),
    CHECK (expires > started)
);
CREATE INDEX lottery_shadow_age ON lottery_shadow (started);
