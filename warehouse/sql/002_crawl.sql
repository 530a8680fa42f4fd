-- Release 2: HTTP crawling, revisits, removals and moves (issue 4). Upgrades release 1 in place.

-- HTTP facts per visit; the crawler's conditional GETs are built from etag/last_modified.
ALTER TABLE visits ADD COLUMN http_status INTEGER;
ALTER TABLE visits ADD COLUMN etag VARCHAR;
ALTER TABLE visits ADD COLUMN last_modified VARCHAR;
ALTER TABLE visits ADD COLUMN content_type VARCHAR;
ALTER TABLE visits ADD COLUMN requested_url VARCHAR;   -- the address asked for, when a redirect moved it

-- An unordered pair of values is identified by a hash, so "the same pair again" is an equality join.
-- md5 of a null is null; 'null' cannot collide with a 32-digit hex digest.
CREATE MACRO change_pair_hash(old_value, new_value) AS
    md5(least(coalesce(md5(old_value), 'null'), coalesce(md5(new_value), 'null'))
        || '|' || greatest(coalesce(md5(old_value), 'null'), coalesce(md5(new_value), 'null')));

ALTER TABLE article_changes ADD COLUMN value_pair_hash VARCHAR;
ALTER TABLE article_changes ADD COLUMN flipflop BOOLEAN DEFAULT false;
UPDATE article_changes SET value_pair_hash = change_pair_hash(old_value, new_value);
UPDATE article_changes AS c SET flipflop = true
FROM (
    SELECT source, article_id, field, version,
           row_number() OVER (PARTITION BY source, article_id, field, value_pair_hash ORDER BY version) AS nth
    FROM article_changes
) AS earlier
WHERE earlier.nth > 1
  AND c.source = earlier.source AND c.article_id = earlier.article_id
  AND c.field = earlier.field AND c.version = earlier.version;

-- Revisit policy by article age (NewsDiffs' bands), in seconds; null means "never revisit".
-- Seconds rather than INTERVALs because intervals built from different units do not order reliably.
CREATE MACRO revisit_band_seconds(age_seconds) AS CASE
    WHEN age_seconds < 3 * 3600 THEN 15 * 60
    WHEN age_seconds < 86400 THEN 3600
    WHEN age_seconds < 7 * 86400 THEN 3 * 3600
    WHEN age_seconds < 30 * 86400 THEN 3 * 86400
    WHEN age_seconds < 365 * 86400 THEN 30 * 86400
    ELSE NULL
END;

-- Mutable per-article facts that versions do not carry: where it lives now, whether it is gone,
-- when it was seen, and when it is due again. Written only by the loader, in the batch transaction.
CREATE TABLE article_state (
    source           VARCHAR NOT NULL,
    article_id       VARCHAR NOT NULL,
    url              VARCHAR,              -- current address
    deleted          BOOLEAN NOT NULL,
    current_version  INTEGER NOT NULL,
    current_hash     VARCHAR NOT NULL,     -- content_hash of the current version
    published_at     TIMESTAMPTZ,          -- of the current version; the revisit band's age counts from it
    first_seen_at    TIMESTAMPTZ NOT NULL,
    last_seen_at     TIMESTAMPTZ,          -- last visit that found the article present (parsed or 304)
    last_visited_at  TIMESTAMPTZ,          -- last visit that reached it (parsed, 304, gone)
    last_changed_at  TIMESTAMPTZ,          -- last new version, deletion or restoration
    revisit_interval INTERVAL,             -- null: never revisit
    next_visit_at    TIMESTAMPTZ,
    PRIMARY KEY (source, article_id)
);

-- Release-1 articles get a state; they are due at once so that the first crawl sets a real schedule.
INSERT INTO article_state
WITH seen AS (
    SELECT source, article_id, max(visited_at) AS last_seen_at
    FROM visits
    WHERE outcome IN ('created', 'changed', 'unchanged')
    GROUP BY ALL
), firsts AS (
    SELECT source, article_id, min(valid_from) AS first_seen_at FROM article_versions GROUP BY ALL
)
SELECT v.source, v.article_id, v.url, false, v.version, v.content_hash, v.published_at,
       f.first_seen_at, coalesce(s.last_seen_at, v.valid_from), coalesce(s.last_seen_at, v.valid_from),
       v.valid_from,
       CASE WHEN revisit_band_seconds(epoch(now() - coalesce(v.published_at, f.first_seen_at))) IS NOT NULL
            THEN INTERVAL 15 MINUTE END,
       CASE WHEN revisit_band_seconds(epoch(now() - coalesce(v.published_at, f.first_seen_at))) IS NOT NULL
            THEN coalesce(s.last_seen_at, v.valid_from) END
FROM article_versions AS v
JOIN firsts AS f USING (source, article_id)
LEFT JOIN seen AS s USING (source, article_id)
WHERE v.valid_to IS NULL;

DROP VIEW articles;
CREATE VIEW articles AS
WITH edits AS (
    SELECT source, article_id, count(DISTINCT version) AS edits
    FROM article_changes
    WHERE NOT flipflop AND field <> 'deleted'
    GROUP BY ALL
)
SELECT v.source, v.article_id, s.url, v.language, v.title, v.lead, v.body, v.blocks,
       v.published_at, v.published_text, v.updated_at, v.authors, v.tags, v.category,
       v.image_url, v.image_caption, v.image_credit, v.content_hash, v.parser,
       v.version, v.valid_from, v.visit_id,
       s.first_seen_at, s.last_seen_at, s.current_version AS versions, coalesce(e.edits, 0) AS edits,
       s.deleted, s.last_visited_at, s.last_changed_at, s.next_visit_at
FROM article_versions AS v
JOIN article_state AS s USING (source, article_id)
LEFT JOIN edits AS e USING (source, article_id)
WHERE v.valid_to IS NULL;

-- The latest validators a server sent with a full (200) answer, per final address.
CREATE VIEW http_validators AS
SELECT url, etag, last_modified, visited_at AS validated_at
FROM visits
WHERE url IS NOT NULL AND http_status = 200 AND (etag IS NOT NULL OR last_modified IS NOT NULL)
QUALIFY row_number() OVER (PARTITION BY url ORDER BY visited_at DESC, visit_id DESC) = 1;
