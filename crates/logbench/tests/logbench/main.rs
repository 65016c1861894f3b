//! logbench's tests, in one binary: the pattern accuracy floors, and each
//! load mode briefly against real services.

mod accuracy;
mod modes;
