-- A room's time zone and language move from the herald's local details to the room settings
-- every feature reads (one answer to "what zone is this room in"). A language given as a name
-- ("French") is not a tag and is not copied: the room sets a tag (fr) again.
INSERT INTO room_setting (room_id, key, value)
    SELECT room_id, 'zone', value FROM herald_local WHERE key = 'timezone'
    ON CONFLICT (room_id, key) DO NOTHING;
INSERT INTO room_setting (room_id, key, value)
    SELECT room_id, 'language', lower(value) FROM herald_local
    WHERE key = 'language' AND (lower(value) GLOB '[a-z][a-z]' OR lower(value) GLOB '[a-z][a-z][a-z]'
        OR lower(value) GLOB '[a-z][a-z]-[a-z0-9]*' OR lower(value) GLOB '[a-z][a-z][a-z]-[a-z0-9]*')
    ON CONFLICT (room_id, key) DO NOTHING;
DELETE FROM herald_local WHERE key IN ('timezone', 'language');
