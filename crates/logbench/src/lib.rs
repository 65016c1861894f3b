//! logbench's library: the benchmarks, so that tests can run them too.
//!
//! # Layout
//! - [`accuracy`]: grouping accuracy of the pattern pipeline on Loghub-2k.

pub mod accuracy;
