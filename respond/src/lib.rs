//! respond stage
