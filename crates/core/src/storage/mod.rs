pub mod blob;
pub mod chunks;
pub mod cleanup;
pub mod digests;
pub mod dir_sync;
pub mod ingest;
