//! The edge node's first D1 migration is the self-hosted node's records
//! schema, verbatim: one schema for both stores.

#[test]
fn edge_migration_is_the_self_hosted_schema() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let schema = std::fs::read_to_string(format!("{root}/self-hosted-node/src/store/schema.sql"))
        .expect("read self-hosted-node/src/store/schema.sql");
    let migration = std::fs::read_to_string(format!("{root}/migrations/0001_records.sql"))
        .expect("read migrations/0001_records.sql");
    assert!(
        migration.ends_with(&schema),
        "migrations/0001_records.sql must end with self-hosted-node/src/store/schema.sql verbatim; \
         copy the schema over (and add a new migration for later changes)"
    );
}
