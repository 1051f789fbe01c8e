pub mod blob;
pub mod cleanup;
pub mod digests;
pub mod ingest;
