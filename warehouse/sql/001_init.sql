-- Release 1: files read into a versioned warehouse (issue 3).

-- Raw input bytes, stored once per distinct content however often seen, so any input can be re-parsed.
CREATE TABLE raw_pages (
    raw_sha256    VARCHAR PRIMARY KEY,    -- hex sha256 of the bytes exactly as read or received
    encoding      VARCHAR NOT NULL,       -- how `data` holds them: 'identity' or 'zlib'
    data          BLOB NOT NULL,
    size          BIGINT NOT NULL,        -- length of the original bytes
    first_seen_at TIMESTAMPTZ NOT NULL
);

-- One row per input read (a file) or URL fetched, whatever came of it.
CREATE TABLE visits (
    visit_id   BIGINT PRIMARY KEY,
    run_id     VARCHAR NOT NULL,
    source     VARCHAR NOT NULL,
    article_id VARCHAR,                   -- null when no article could be identified (listings, bad files)
    url        VARCHAR,                   -- set when the input was fetched over HTTP (final address)
    path       VARCHAR,                   -- set when the input was a file
    visited_at TIMESTAMPTZ NOT NULL,
    outcome    VARCHAR NOT NULL,
    error      VARCHAR,
    raw_sha256 VARCHAR,                   -- key into raw_pages, null when nothing was received
    bytes      BIGINT
);

-- Slowly changing history: one row per version; valid_to is null for the current one.
CREATE TABLE article_versions (
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
    visit_id       BIGINT NOT NULL,
    PRIMARY KEY (source, article_id, version)
);

-- One row per record field that differs between a version and the one before it.
CREATE TABLE article_changes (
    source     VARCHAR NOT NULL,
    article_id VARCHAR NOT NULL,
    version    INTEGER NOT NULL,          -- the version the change leads to
    field      VARCHAR NOT NULL,          -- the record field's name
    old_value  VARCHAR,                   -- as text; lists as JSON, timestamps as ISO-8601 UTC
    new_value  VARCHAR,
    changed_at TIMESTAMPTZ NOT NULL,
    visit_id   BIGINT NOT NULL
);

CREATE VIEW articles AS
WITH seen AS (
    SELECT source, article_id, min(visited_at) AS first_seen_at, max(visited_at) AS last_seen_at
    FROM visits
    WHERE outcome IN ('created', 'changed', 'unchanged')
    GROUP BY ALL
)
SELECT v.*, s.first_seen_at, s.last_seen_at, v.version AS versions
FROM article_versions AS v
LEFT JOIN seen AS s USING (source, article_id)
WHERE v.valid_to IS NULL;
