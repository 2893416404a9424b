//! analyze stage
