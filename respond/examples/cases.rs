//! Print the cases of a (stopped) respond store, one line each, with their audit status:
//!
//! `cargo run -p respond --example cases -- DATA_DIR`   (the store is `DATA_DIR/respond/cases`)

use respond::{CaseFilter, CaseStore};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: cases DATA_DIR"))?;
    let store = CaseStore::open(&std::path::Path::new(&dir).join("respond/cases"))?;
    for case in store.list(&CaseFilter::default(), chrono::Utc::now())? {
        let audit = match store.verify(&case.case_id)? {
            Ok(()) => "audit ok".to_string(),
            Err(e) => format!("AUDIT: {e}"),
        };
        println!(
            "{} {:<12} {:<16} {:<8} {:?} {} | {} | {}",
            case.case_id,
            case.state.as_str(),
            case.owner.name,
            case.severity.map_or("-", |s| s.label_zh()),
            case.priorities,
            case.title,
            case.owner_reason,
            audit
        );
    }
    Ok(())
}
