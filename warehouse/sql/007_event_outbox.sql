-- Migration 007: the event outbox (warehouse.outbox).
--
-- Each load batch writes the Prefect events it gives rise to into this table in the same
-- transaction as its visits and versions, so a rolled-back batch leaves none and a committed one
-- loses none. The flows emit the rows after the commit and delete them once the Prefect API has
-- accepted them; what an unreachable API leaves here is emitted by the next run or by
-- `kazinform events flush`.

CREATE TABLE event_outbox (
    id          BIGINT NOT NULL,       -- emission order: the visit's id * 10 + the kind of event
    event_id    UUID NOT NULL,         -- the Prefect event id, the same on every attempt
    event       VARCHAR NOT NULL,      -- kazinform.article.changed, kazinform.articles.created, ...
    resource    JSON NOT NULL,         -- without kazinform.warehouse (added when emitted)
    related     JSON NOT NULL,         -- a list of related resources (the flow run)
    payload     JSON NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,  -- the visit that found it
    run_id      VARCHAR NOT NULL,
    written_at  TIMESTAMPTZ NOT NULL   -- the batch's commit
);
