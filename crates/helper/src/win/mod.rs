//! The Windows system calls the helper needs where Unix has mode bits: the access rules of
//! secret files, the config file and the cache directory (`acl`), and secrets kept in
//! Credential Manager (`credential`). Everything unsafe for
//! Windows stays in here.

pub mod acl;
pub mod credential;
