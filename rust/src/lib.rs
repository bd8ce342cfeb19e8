//! learned-router's Rust core: pure, deterministic kernels on arrays.
//!
//! No files, no network, no Python: the crate builds and tests as plain Rust.
//! The PyO3 binding lives in `py/` (one file per domain) behind the `python` cargo feature and is
//! exposed to Python as the private module `learned_router._core`.

pub mod cache;
pub mod capacity;
pub mod error;
pub mod select;

#[cfg(feature = "python")]
mod py;

pub use capacity::{Capacity, CapacityTracker, TokenBucket};
pub use error::CoreError;
