pub mod accounts;
pub mod actor;
pub mod app_passwords;
pub mod basic;
pub mod password;
pub mod second_factor;
pub mod sessions;
pub mod throttle;
