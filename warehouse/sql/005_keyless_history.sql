-- Migration 005: the warehouse's tables lose their primary-key indexes.
--
-- The load already guarantees every key: visit ids are numbered past the largest stored one, an
-- article gets its `article_state` row only when the batch's comparison found none (one visit of an
-- article per merge round), a version is inserted only as the successor of the current one kept
-- there, and raw bodies are inserted through an anti join on raw_sha256. A DuckDB primary key is an
-- ART index that every writer connection loads and extends, so its cost grows with the history;
-- measured on 100,000 revisited articles the keys of the three history tables were ~10% of the
-- load, and the state key ~5% of a first load. `warehouse.integrity` holds the checks the keys
-- used to make, and the tests run them after every load. DuckDB cannot drop a primary key in
-- place, so each table is copied (same columns, same NOT NULLs, same order) and swapped; views bind
-- by name and are unaffected.

CREATE TABLE visits_keyless (
    visit_id      BIGINT NOT NULL,
    run_id        VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    article_id    VARCHAR,
    url           VARCHAR,
    path          VARCHAR,
    visited_at    TIMESTAMPTZ NOT NULL,
    outcome       VARCHAR NOT NULL,
    error         VARCHAR,
    raw_sha256    VARCHAR,
    bytes         BIGINT,
    http_status   INTEGER,
    etag          VARCHAR,
    last_modified VARCHAR,
    content_type  VARCHAR,
    requested_url VARCHAR
);
INSERT INTO visits_keyless BY NAME SELECT * FROM visits ORDER BY visit_id;
DROP TABLE visits;
ALTER TABLE visits_keyless RENAME TO visits;

CREATE TABLE article_versions_keyless (
    source         VARCHAR NOT NULL,
    article_id     VARCHAR NOT NULL,
    version        INTEGER NOT NULL,
    url            VARCHAR,
    language       VARCHAR,
    title          VARCHAR,
    lead           VARCHAR,
    body           VARCHAR,
    blocks         JSON,
    published_at   TIMESTAMPTZ,
    published_text VARCHAR,
    updated_at     TIMESTAMPTZ,
    authors        VARCHAR[],
    tags           VARCHAR[],
    category       VARCHAR,
    image_url      VARCHAR,
    image_caption  VARCHAR,
    image_credit   VARCHAR,
    content_hash   VARCHAR NOT NULL,
    parser         VARCHAR,
    valid_from     TIMESTAMPTZ NOT NULL,
    valid_to       TIMESTAMPTZ,
    visit_id       BIGINT NOT NULL
);
INSERT INTO article_versions_keyless BY NAME SELECT * FROM article_versions ORDER BY visit_id;
DROP TABLE article_versions;
ALTER TABLE article_versions_keyless RENAME TO article_versions;

CREATE TABLE raw_pages_keyless (
    raw_sha256    VARCHAR NOT NULL,
    encoding      VARCHAR NOT NULL,
    data          BLOB NOT NULL,
    size          BIGINT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL
);
INSERT INTO raw_pages_keyless BY NAME SELECT * FROM raw_pages ORDER BY first_seen_at;
DROP TABLE raw_pages;
ALTER TABLE raw_pages_keyless RENAME TO raw_pages;

CREATE TABLE article_state_keyless (
    source           VARCHAR NOT NULL,
    article_id       VARCHAR NOT NULL,
    url              VARCHAR,
    deleted          BOOLEAN NOT NULL,
    current_version  INTEGER NOT NULL,
    current_hash     VARCHAR NOT NULL,
    published_at     TIMESTAMPTZ,
    first_seen_at    TIMESTAMPTZ NOT NULL,
    last_seen_at     TIMESTAMPTZ,
    last_visited_at  TIMESTAMPTZ,
    last_changed_at  TIMESTAMPTZ,
    revisit_interval INTERVAL,
    next_visit_at    TIMESTAMPTZ,
    field_hashes     UBIGINT[]
);
INSERT INTO article_state_keyless BY NAME SELECT * FROM article_state ORDER BY source, article_id;
DROP TABLE article_state;
ALTER TABLE article_state_keyless RENAME TO article_state;
