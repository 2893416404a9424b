//! Serve the dashboards alone on an existing data directory (its embedded bus and read model),
//! e.g. to look at what a finished `yuqing demo` left behind:
//! `cargo run -p dashboards --example serve -- DATA_DIR 127.0.0.1:8090`.

use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = std::path::PathBuf::from(args.next().ok_or("usage: serve DATA_DIR [ADDR]")?);
    let mut config = dashboards::Config::default();
    // A quick local look, like `yuqing demo`: the read-only desk answers without login.
    config.auth.public_read_api = true;
    if let Some(addr) = args.next() {
        config.listen = addr;
    }
    // SERVE_PASSWORD=... creates desk1 / leader1 / admin1 with that password, for a quick look.
    if let Ok(pw) = std::env::var("SERVE_PASSWORD") {
        for (name, role) in [
            ("desk1", "desk"),
            ("leader1", "leader"),
            ("admin1", "admin"),
        ] {
            dashboards::tools::create_user(&config, &data, name, role, None, &pw)?;
        }
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let bus: common::SharedBus = Arc::new(common::bus::EmbeddedBus::open(
            &data.join("bus"),
            "",
            1_000_000,
        )?);
        let ctx = common::StageContext {
            bus,
            clock: Arc::new(common::SystemClock),
            data_dir: data,
        };
        let shutdown = common::Shutdown::new();
        common::shutdown::cancel_on_signal(shutdown.clone());
        dashboards::run(config, ctx, shutdown).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
