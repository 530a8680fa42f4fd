-- Migration 006: a record of every load package loaded (warehouse.packages).
--
-- A run that cannot get the write lock keeps each staged batch as a load package on disk, and a
-- later writer loads it. The package's row is inserted in the same transaction as its visits, so a
-- package found here is never loaded again, even when the process died before removing its files.

CREATE TABLE load_packages (
    package_id VARCHAR NOT NULL,
    run_id     VARCHAR NOT NULL,
    visits     BIGINT NOT NULL,
    staged_at  TIMESTAMPTZ NOT NULL,
    loaded_at  TIMESTAMPTZ NOT NULL
);
