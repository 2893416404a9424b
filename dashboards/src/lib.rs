//! dashboards: the screens of yuqing. A monitoring desk (live stream, hot events, district grid,
//! deadline board, 研判 actions), a unit inbox, leader reports (page, print, DOCX, XLSX), ops
//! pages and a stable JSON API, all served by this process with no CDN (ECharts is vendored).
//!
//! Architecture:
//! - [`feed`] consumes the analyzed-document, event-update, case-event and source-health topics
//!   into the [`store`] (sled under `data_dir/dashboards`), idempotent on natural keys, and fans
//!   each real change out to the live stream.
//! - [`web`] is the axum router: JSON API, SSE, pages; [`auth`] holds accounts, sessions, CSRF and
//!   login throttling; [`reports`] computes period summaries that [`export`] writes as DOCX/XLSX.
//! - Writes from the UI never touch the case store: they become `CaseCommandRequest`s on
//!   `topics::CASE_COMMANDS` (the respond stage owns cases) or `RawDocument`s on
//!   `topics::RAW_DOCUMENTS` (manual intake), and come back through the case-event topic.
//!
//! Invariants: crawled text reaches the browser only as JSON rendered with `textContent`, or as
//! server-rendered HTML through [`web::html::esc`]; every response carries a CSP without inline
//! scripts; every state-changing request needs a session and its CSRF token.

pub mod audience;
pub mod auth;
pub mod export;
pub mod feed;
pub mod reports;
pub mod schedule;
pub mod store;
pub mod throttle;
pub mod views;
pub mod web;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub const DEFAULT_CONFIG: &str = include_str!("../default.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds, e.g. `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub ui: UiConfig,
    #[serde(default)]
    pub reports: ReportsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            auth: AuthConfig::default(),
            ui: UiConfig::default(),
            reports: ReportsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Generate the previous day's 舆情日报 at this local time (`HH:MM`); empty disables it.
    pub daily_at: String,
    /// URLs that receive a JSON notice (title, summary, download links) for each daily report.
    pub webhooks: Vec<String>,
    /// Also announce each daily report on `yuqing.notifications.v1`, which respond delivers
    /// through its channels (DingTalk, WeCom, webhook, SMTP).
    pub notify: bool,
    /// Who gets that notice: unit ids, `leaders:<unit id>`, `*`; empty means `*`.
    pub notify_recipients: Vec<String>,
    /// The dashboards' address as readers reach it (`https://yuqing.example.gov.cn`), for the
    /// notice's download link; empty leaves the link out.
    pub public_url: String,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            daily_at: "08:00".into(),
            webhooks: Vec::new(),
            notify: true,
            notify_recipients: Vec::new(),
            public_url: String::new(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The public feed (`GET /api/events|items|stats|stream|districts`) and the read-only
    /// monitoring page answer without login, narrowed to what the public may see: no cases, audit
    /// logs or unit assignments (`/api/cases` always needs a login; see [`audience`]). Off by
    /// default (a government deployment is private unless said otherwise); the loopback demo and
    /// tests turn it on. A warning is logged when it is on at a non-loopback address.
    pub public_read_api: bool,
    /// Unit accounts may read the whole feed (`/api/items`, `/api/events`, the live stream);
    /// off, a unit sees its own cases and the events and items behind them. Either way a unit
    /// never sees another unit's case ids.
    pub units_read_whole_feed: bool,
    /// How long a session lives after login.
    pub session_ttl_minutes: i64,
    /// Failed logins of one account from one client address before that client must wait
    /// (`login_delay_seconds`, doubling with each further failure up to
    /// `login_max_delay_minutes`). Other clients are not slowed: a stranger cannot lock an
    /// account out. See [`throttle`].
    pub login_max_failures: u32,
    /// A pair (account, client) is forgotten this long after its last failure.
    pub login_window_minutes: i64,
    pub login_delay_seconds: i64,
    pub login_max_delay_minutes: i64,
    /// Pairs remembered at most; past it the oldest unthrottled pair is forgotten first.
    pub login_tracked_keys: usize,
    /// Reverse proxies (addresses or networks such as `10.0.0.0/8`) whose `X-Forwarded-For`
    /// names the client. Empty: the peer address is the client and the header is ignored.
    pub trusted_proxies: Vec<String>,
    /// The dashboards are reached over HTTPS (a TLS-terminating reverse proxy in front, or TLS
    /// on the listener): cookies are `Secure` and `__Host-` prefixed, and every response carries
    /// `Strict-Transport-Security`. Leave false on plain HTTP, where browsers would drop
    /// `Secure` cookies and no one could log in. (`secure_cookies`, its former name, is read
    /// too.)
    #[serde(alias = "secure_cookies")]
    pub https: bool,
    /// `max-age` of `Strict-Transport-Security` when `https` is on (a year by default).
    pub hsts_max_age_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            public_read_api: false,
            units_read_whole_feed: false,
            session_ttl_minutes: 720,
            login_max_failures: 5,
            login_window_minutes: 15,
            login_delay_seconds: 30,
            login_max_delay_minutes: 15,
            login_tracked_keys: 100_000,
            trusted_proxies: Vec::new(),
            https: false,
            hsts_max_age_seconds: 31_536_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// A deadline this close is shown amber on the deadline board.
    pub near_due_minutes: i64,
    /// Offset of local time used for report periods and displayed times (Beijing time: 8).
    pub utc_offset_hours: i32,
    /// The localities of the district grid, in display order.
    pub districts: Vec<String>,
    /// Live-stream messages buffered per viewer before it is told to resync.
    pub stream_buffer: usize,
    /// A viewer gets at most one batch of live changes per interval...
    pub stream_interval_ms: u64,
    /// ...holding at most this many new items (the newest; the rest are counted as skipped).
    /// Together they bound what one viewer costs whatever the ingest rate.
    pub stream_max_items: usize,
    /// Items returned by `/api/items` when no limit is given, and the largest limit accepted.
    pub items_default_limit: usize,
    pub items_max_limit: usize,
    /// Items older than this are dropped from the read model (events and cases are kept); at
    /// least a year, so the annual evaluation has its data.
    pub retain_days: i64,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            near_due_minutes: 120,
            utc_offset_hours: 8,
            districts: [
                "南明区",
                "云岩区",
                "花溪区",
                "乌当区",
                "白云区",
                "观山湖区",
                "清镇市",
                "开阳县",
                "息烽县",
                "修文县",
            ]
            .map(String::from)
            .to_vec(),
            stream_buffer: 4096,
            stream_interval_ms: 250,
            stream_max_items: 50,
            items_default_limit: 100,
            items_max_limit: 1000,
            retain_days: 400,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("read model: {0}")]
    Sled(#[from] sled::Error),
    #[error("read model: {0}")]
    Store(String),
    #[error("bus: {0}")]
    Bus(#[from] common::BusError),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("{0}")]
    Account(#[from] auth::AccountProblem),
    #[error("password hashing: {0}")]
    Password(String),
    #[error("export: {0}")]
    Export(String),
}

impl Error {
    /// Whether trying again later can help (storage or bus trouble) rather than a bad input.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Io(_) | Error::Sled(_) | Error::Store(_) => true,
            Error::Bus(e) => e.is_retryable(),
            Error::BadRequest(_) | Error::Account(_) | Error::Password(_) | Error::Export(_) => {
                false
            }
        }
    }
}

/// Shared by the HTTP handlers and the feed.
pub struct AppState {
    pub config: Config,
    pub ctx: common::StageContext,
    pub store: store::Store,
    pub live: tokio::sync::broadcast::Sender<feed::LiveMessage>,
    pub limiter: throttle::LoginLimiter,
    pub proxies: throttle::TrustedProxies,
    /// Signs the login form's CSRF tokens.
    pub login_key: auth::ServerKey,
    pub metrics: web::Metrics,
    /// Cancelled on shutdown; live streams end on it so graceful shutdown can finish.
    pub shutdown: common::Shutdown,
}

pub type SharedState = Arc<AppState>;

/// Bind `config.listen` and serve until `shutdown`.
pub async fn run(
    config: Config,
    ctx: common::StageContext,
    shutdown: common::Shutdown,
) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(&config.listen).await?;
    run_with_listener(config, ctx, listener, shutdown).await
}

/// Serve on an already bound listener (tests bind `127.0.0.1:0`).
pub async fn run_with_listener(
    config: Config,
    ctx: common::StageContext,
    listener: tokio::net::TcpListener,
    shutdown: common::Shutdown,
) -> Result<(), Error> {
    let addr = listener.local_addr()?;
    if config.auth.public_read_api && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "auth.public_read_api is true on a non-loopback address: the JSON read API answers without login");
    }
    let proxies = throttle::TrustedProxies::parse(&config.auth.trusted_proxies)?;
    let dir = ctx.stage_dir("dashboards")?;
    // Opening recovers sled's log: on the blocking pool, not on an async worker.
    let store = tokio::task::spawn_blocking(move || store::Store::open(&dir))
        .await
        .map_err(|e| Error::Store(format!("opening the read model panicked: {e}")))??;
    let (live, _) = tokio::sync::broadcast::channel(config.ui.stream_buffer.max(16));
    let state = Arc::new(AppState {
        limiter: throttle::LoginLimiter::new(&config.auth),
        proxies,
        login_key: auth::ServerKey::random(),
        config,
        ctx,
        store,
        live,
        metrics: web::Metrics::default(),
        shutdown: shutdown.clone(),
    });

    if !state.config.reports.daily_at.trim().is_empty() {
        // Fail at start, not at 08:00, when the schedule is mistyped.
        schedule::parse_time(&state.config.reports.daily_at)?;
    }
    let mut feeds = feed::spawn(state.clone(), shutdown.clone()).await?;
    if !state.config.reports.daily_at.trim().is_empty() {
        feeds.push(tokio::spawn(schedule::run(state.clone(), shutdown.clone())));
    }
    feeds.push(tokio::spawn(prune(state.clone(), shutdown.clone())));
    feeds.push(tokio::spawn(web::api::ops::sample_lag(
        state.clone(),
        shutdown.clone(),
    )));
    tracing::info!(%addr, "dashboards listening");
    let app = web::router(state.clone());
    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown({
        let s = shutdown.clone();
        async move { s.cancelled().await }
    });
    let served = serve.await;
    // The feed stops on the same token; wait for it so the last acknowledged write is flushed.
    shutdown.cancel();
    for f in feeds {
        if let Err(e) = f.await {
            tracing::warn!(error = %e, "feed task ended abnormally");
        }
    }
    state.store.flush().await?;
    served?;
    Ok(())
}

/// Drop items past retention, expired sessions and old command outcomes once an hour.
async fn prune(state: SharedState, shutdown: common::Shutdown) {
    loop {
        let days = state.config.ui.retain_days.max(366);
        let cutoff = state.ctx.clock.now() - chrono::Duration::days(days);
        match state.store.prune_items(cutoff) {
            Ok(0) => {}
            Ok(n) => tracing::info!(items = n, "pruned items past retention"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
        if let Err(e) = state.store.prune_sessions(state.ctx.clock.now()) {
            tracing::warn!(error = %e, "pruning sessions failed");
        }
        // A command's outcome matters for minutes; a month covers any late answer.
        let sent_cutoff = state.ctx.clock.now() - chrono::Duration::days(30);
        if let Err(e) = state.store.prune_commands(sent_cutoff) {
            tracing::warn!(error = %e, "pruning sent commands failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}

/// Offline administration, run by the CLI while the server is stopped (sled allows one process).
pub mod tools {
    use std::path::{Path, PathBuf};

    use common::wire::{UnitRef, UnitRegistry};

    use crate::store::{Role, Store};

    /// What `yuqing user add` asks for.
    pub struct NewAccount<'a> {
        pub name: &'a str,
        pub role: &'a str,
        /// A unit id of the registry (the CLI resolves names and aliases with respond's
        /// registry before calling).
        pub unit: Option<&'a UnitRef>,
        pub password: &'a str,
        /// Create the dashboards' store when `data_dir` has none yet (the first admin of a new
        /// installation); without it a mistyped or relative data directory is refused instead
        /// of silently starting an empty one.
        pub create: bool,
    }

    /// The store of `data_dir`, and whether it exists yet.
    pub fn store_dir(data_dir: &Path) -> (PathBuf, bool) {
        let dir = std::path::absolute(data_dir)
            .unwrap_or_else(|_| data_dir.to_path_buf())
            .join("dashboards");
        let exists = dir.join("read-model").exists();
        (dir, exists)
    }

    /// Create or reset an account for the CLI: refuses a data directory without a store unless
    /// `create`, records the registry the CLI knows (so the screens name the account's unit
    /// before respond has published it), and returns the store directory it wrote.
    pub fn add_user(
        config: &crate::Config,
        data_dir: &Path,
        account: &NewAccount<'_>,
        registry: Option<&UnitRegistry>,
    ) -> Result<PathBuf, crate::Error> {
        let (dir, exists) = store_dir(data_dir);
        if !exists && !account.create {
            return Err(crate::Error::BadRequest(format!(
                "数据目录 {} 中还没有看板数据（不是已运行过的 yuqing 数据目录）。请在 yuqing demo/run 所用的目录中运行，或用 --config 指定其配置；确要在此新建，请加 --create",
                dir.parent().unwrap_or(&dir).display()
            )));
        }
        let _ = config;
        let user = new_account(
            account.name,
            account.role,
            account.unit.map(|u| u.id.as_str()),
            account.password,
        )?;
        let store = open(&dir)?;
        // The registry respond publishes is this same list; one it already published stays.
        if let Some(registry) = registry
            && !store.has_registry()?
        {
            store.apply_registry(registry)?;
        }
        save(&store, &user)?;
        Ok(dir)
    }

    fn new_account(
        name: &str,
        role: &str,
        unit_id: Option<&str>,
        password: &str,
    ) -> Result<crate::store::User, crate::Error> {
        let role = Role::parse(role).ok_or_else(|| {
            crate::Error::BadRequest(format!(
                "未知角色“{role}”（可选 desk、unit、leader、admin）"
            ))
        })?;
        crate::auth::new_user(name, role, unit_id, password, chrono::Utc::now())
    }

    /// Store the account and end its sessions (a reset password logs the old ones out).
    fn save(store: &Store, user: &crate::store::User) -> Result<(), crate::Error> {
        store.put_user(user)?;
        store.delete_sessions_of(&user.name)?;
        store.flush_blocking()?;
        Ok(())
    }

    fn open(dir: &Path) -> Result<Store, crate::Error> {
        std::fs::create_dir_all(dir)?;
        Store::open(dir).map_err(|e| match e {
            // sled holds an exclusive lock: a running server owns the store.
            crate::Error::Sled(sled::Error::Io(io)) if io.to_string().contains("lock") => {
                crate::Error::BadRequest(format!(
                    "{} 中的看板数据正被运行中的 yuqing 进程使用：请先停止它，再添加用户",
                    dir.display()
                ))
            }
            e => e,
        })
    }

    /// Create (or replace the password and role of) a dashboard account. This is how the first
    /// admin comes to exist: there is never a default password.
    pub fn create_user(
        config: &crate::Config,
        data_dir: &Path,
        name: &str,
        role: &str,
        unit_id: Option<&str>,
        password: &str,
    ) -> Result<(), crate::Error> {
        let _ = config;
        let user = new_account(name, role, unit_id, password)?;
        save(&open(&data_dir.join("dashboards"))?, &user)
    }
}
