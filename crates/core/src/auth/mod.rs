pub mod accounts;
pub mod actor;
pub mod password;
pub mod sessions;
