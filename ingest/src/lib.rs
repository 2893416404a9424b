//! ingest stage
