-- Whether the invite that brought a bot into a room marked it as a direct chat (is_direct, as
-- Element sets it when someone starts a DM). A room with just one person and the bot is then
-- told apart from a group that has only one member so far. Only room ids and a flag.
CREATE TABLE room_kind (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    is_direct INTEGER NOT NULL,
    PRIMARY KEY (bot, room_id)
);
