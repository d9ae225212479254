//! Holds the workspace's structure checks; the crate itself is empty. The checks live in
//! `tests/structure.rs`: no file-level import cycle inside a crate, no module over its line
//! budget, and no password-hashing or JWT library among the HTTP crate's dependencies.
