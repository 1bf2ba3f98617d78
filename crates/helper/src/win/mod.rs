//! The Windows system calls the helper needs where Unix has mode bits: the access rules of
//! secret files, the config file and the cache directory (`acl`). Everything unsafe for
//! Windows stays in here.

pub mod acl;
