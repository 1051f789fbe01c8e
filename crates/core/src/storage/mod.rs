pub mod blob;
pub mod cleanup;
pub mod ingest;
