//! The client CLI as a library: the binary (`main.rs`) runs it, and the fuzz targets (`fuzz/`)
//! reach its parsers of flags and `key=value` arguments.

pub mod cli;
pub mod flags;
