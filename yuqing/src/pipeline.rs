//! Assemble and run stages: all of them in one process (`yuqing run`, `yuqing demo`) or one
//! (`yuqing ingest` ...). A stage that fails stops the others, so a half-running pipeline never
//! looks healthy.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use common::{SharedBus, SharedClock, Shutdown, StageContext, SystemClock, topics};

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Ingest,
    Analyze,
    Respond,
    Dashboards,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Ingest,
        Stage::Analyze,
        Stage::Respond,
        Stage::Dashboards,
    ];
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Ingest => "ingest",
            Stage::Analyze => "analyze",
            Stage::Respond => "respond",
            Stage::Dashboards => "dashboards",
        })
    }
}

/// Open the configured bus and create its topics. Kafka may still be starting: retry for a while.
pub async fn open_bus(config: &Config) -> anyhow::Result<SharedBus> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    let bus = common::bus::open(&config.bus, &config.data_dir)
        .await
        .context("cannot open the bus")?;
    let mut attempt = 0u32;
    loop {
        match bus.ensure_topics(&topics::ALL).await {
            Ok(()) => return Ok(bus),
            Err(e) if e.is_retryable() && attempt < 20 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "bus not ready, retrying");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt.min(6)))).await;
            }
            Err(e) => return Err(e).context("cannot create topics"),
        }
    }
}

/// Everything a set of stages needs to run.
pub struct Pipeline {
    pub config: Config,
    pub bus: SharedBus,
    pub clock: SharedClock,
    /// Where the dashboards listen; `None` binds `config.dashboards.listen`.
    pub dashboards_listener: Option<TcpListener>,
}

impl Pipeline {
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let bus = open_bus(&config).await?;
        Ok(Self {
            config,
            bus,
            clock: Arc::new(SystemClock),
            dashboards_listener: None,
        })
    }

    /// Run `stages` until `shutdown` is cancelled or one of them fails.
    pub async fn run(self, stages: &[Stage], shutdown: Shutdown) -> anyhow::Result<()> {
        let ctx = StageContext {
            bus: self.bus,
            clock: self.clock,
            data_dir: self.config.data_dir.clone(),
        };
        let mut listener = self.dashboards_listener;
        let mut tasks = JoinSet::new();
        for &stage in stages {
            let (ctx, sd, cfg) = (ctx.clone(), shutdown.clone(), self.config.clone());
            let listener = if stage == Stage::Dashboards {
                listener.take()
            } else {
                None
            };
            tasks.spawn(async move {
                let result: anyhow::Result<()> = match stage {
                    Stage::Ingest => ingest::run(cfg.ingest, ctx, sd).await.map_err(Into::into),
                    Stage::Analyze => analyze::run(cfg.analyze, ctx, sd).await.map_err(Into::into),
                    Stage::Respond => respond::run(cfg.respond, ctx, sd).await.map_err(Into::into),
                    Stage::Dashboards => match listener {
                        Some(l) => dashboards::run_with_listener(cfg.dashboards, ctx, l, sd)
                            .await
                            .map_err(Into::into),
                        None => dashboards::run(cfg.dashboards, ctx, sd)
                            .await
                            .map_err(Into::into),
                    },
                };
                (stage, result)
            });
            tracing::info!(%stage, "stage started");
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let (stage, result) = joined.context("a stage panicked")?;
            match result {
                Ok(()) => tracing::info!(%stage, "stage stopped"),
                Err(e) => {
                    tracing::error!(%stage, error = %format!("{e:#}"), "stage failed; stopping the others");
                    shutdown.cancel();
                    first_error.get_or_insert(e.context(format!("stage {stage} failed")));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
