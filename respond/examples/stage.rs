//! The respond stage alone on an embedded bus, for poking at it by hand and for the crash test
//! (which kills it with SIGKILL mid-burst):
//!
//! `cargo run -p respond --example stage -- DIR [WEBHOOK_URL]`
//!
//! The bus log lives in `DIR/bus`, the case store in `DIR/respond`. With a URL, every
//! notification is POSTed there.

use std::path::PathBuf;
use std::sync::Arc;

use common::bus::EmbeddedBus;
use common::{Shutdown, StageContext, SystemClock};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: stage DIR [WEBHOOK_URL]"))?,
    );
    let mut config = respond::Config::default();
    if let Some(url) = args.next() {
        config = respond::Config::from_toml(&format!(
            "[respond.notify]\nbackoff_initial_secs = 0.05\nbackoff_max_secs = 1.0\n\
             [[respond.notify.channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\n"
        ))?;
    }
    let bus = Arc::new(EmbeddedBus::open(&dir.join("bus"), "", 1_000_000)?);
    let ctx = StageContext {
        bus,
        clock: Arc::new(SystemClock),
        data_dir: dir,
    };
    let shutdown = Shutdown::new();
    common::shutdown::cancel_on_signal(shutdown.clone());
    respond::run(config, ctx, shutdown).await?;
    Ok(())
}
