-- +goose Up
-- The key check value (seal.KeyCheck) of the server key that seals this
-- database's secrets, recorded by the first process that opens it with a
-- key. A process whose key does not match is refused at start, rather than
-- failing to decrypt a storage's secrets on some requests and not others.
-- One row at most; a rotation replaces it.
CREATE TABLE secret_key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    check_value TEXT NOT NULL
);

-- +goose Down
DROP TABLE secret_key_check;
