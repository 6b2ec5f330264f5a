-- Records brought from other systems (SugarCRM). Keep in step with ../sqlite/0008_imports.sql.
-- One row per record imported: a second run of the same export finds it here and changes
-- nothing; `label` is what people know the record by there (a case number).
CREATE TABLE external_refs (
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    local_id BIGINT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (source, kind, external_id)
);
CREATE INDEX external_refs_local ON external_refs (kind, local_id);
