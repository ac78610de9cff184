//! Tests that span the harness: the method registry end to end (a test-only method through
//! the command line's parser, a smoke reproduction and the report).

pub mod audit;
pub mod registry;
pub mod resume;
