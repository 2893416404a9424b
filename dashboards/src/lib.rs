//! dashboards stage
