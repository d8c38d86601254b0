-- What a match still owes, so a crash between deciding and telling loses nothing: both sides
-- asked (asked = 1), and the outcome told to both (told = 1: the introductions after two yeses,
-- or "did not go ahead" after a no). start() sends whatever an open match still owes.
ALTER TABLE skills_match ADD COLUMN asked INTEGER NOT NULL DEFAULT 0 CHECK (asked IN (0, 1));
ALTER TABLE skills_match ADD COLUMN told INTEGER NOT NULL DEFAULT 0 CHECK (told IN (0, 1));
