//! Cross-stage tests live in `tests/tests/`.
