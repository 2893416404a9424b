//! `yuqing`: run the demo, the whole pipeline, one stage, or a measuring tool.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use common::Shutdown;
use yuqing::config::{Config, LogFormat};
use yuqing::{Pipeline, Stage};

/// The analyzer and the extractor allocate many small, short-lived buffers per item; mimalloc
/// serves them measurably faster than the system allocator (`yuqing bench analyze`: ≈ +10 %).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "yuqing",
    version,
    about = "政务舆情 monitoring and response pipeline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ConfigArg {
    /// Config file (TOML); overrides the built-in defaults, and `YUQING__*` env vars override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process on the embedded bus, fed by a local demo site; the dashboard
    /// fills up live at http://127.0.0.1:8080.
    Demo {
        #[command(flatten)]
        config: ConfigArg,
        /// Where the demo feed site listens.
        #[arg(long, default_value = "127.0.0.1:8081")]
        feed_listen: String,
        /// Time scale of the demo feed (2.0 releases items twice as fast).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
    /// All stages in one process, on the bus the config names (embedded or Kafka).
    Run(ConfigArg),
    /// The ingest stage alone.
    Ingest(ConfigArg),
    /// The analyze stage alone, or with --jsonl the offline analyzer (JSONL on stdin).
    Analyze {
        #[command(flatten)]
        config: ConfigArg,
        /// Read JSONL `{id, text, title?}` on stdin and print one analysis per line.
        #[arg(long)]
        jsonl: bool,
    },
    /// The respond stage alone.
    Respond(ConfigArg),
    /// The dashboards alone.
    Dashboards(ConfigArg),
    /// Owner, reason, tier and deadlines for analyzed items (JSONL on stdin). Pure.
    Assign {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, required = true)]
        jsonl: bool,
    },
    /// Extract one page (a file of raw bytes in any encoding, or a URL) and print JSON.
    Extract { target: String },
    /// Score a component on a labelled JSONL file:
    /// extraction | emergency | domain | sentiment | rumor | segmentation | places.
    Eval {
        task: String,
        file: PathBuf,
        /// Only fold K of N (by a hash of the id, as `dev_corrections.py` splits), for
        /// cross-validation.
        #[arg(long, value_name = "K/N")]
        fold: Option<String>,
        /// With --fold: every fold but K.
        #[arg(long, requires = "fold")]
        rest: bool,
        /// Learn from these corrections (研判 rows, as `yuqing learn` reads them) first and print
        /// the learning curve: the figure with 0, 50, 100, 200 and all of them.
        #[arg(long, value_name = "TRAIN.jsonl")]
        learn_from: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Import 研判 records (JSONL `{id, text, title?, field, value, source?}`, as
    /// `dev_corrections.py` writes them) as corrections on the bus: every analyzer learns from
    /// them. A row with `"withdrawn": true` takes its item's field back.
    Learn {
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Benchmarks: ingest | analyze | pipeline.
    Bench {
        target: String,
        /// `pipeline`: the bus to measure (embedded or kafka; Kafka from the config, e.g.
        /// `YUQING__BUS__KAFKA__BOOTSTRAP`).
        #[arg(long, default_value = "embedded")]
        bus: String,
        /// `pipeline`: how many raw documents to feed.
        #[arg(long, default_value_t = 20_000)]
        docs: usize,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Manage dashboard accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the effective configuration.
    Config(ConfigArg),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add (or reset) an account. The password is read from stdin (first line), never from argv.
    Add {
        name: String,
        /// desk | unit | leader | admin
        #[arg(long)]
        role: String,
        /// The unit a `unit` account belongs to: an id, name or alias from the unit registry
        /// (`[[respond.units]]`); anything else is refused.
        #[arg(long)]
        unit: Option<String>,
        /// Create the data directory's dashboards store if it has none yet (the first account
        /// of a new installation). Without it, a directory that was never used is refused.
        #[arg(long)]
        create: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// The registry unit `given` names (id, name or alias), or an error that lists close ones.
fn registry_unit(config: &Config, given: &str) -> anyhow::Result<common::wire::UnitRef> {
    if let Some(u) = config.respond.find_unit(given) {
        return Ok(u.to_ref());
    }
    let like: Vec<String> = config
        .respond
        .units_like(given, 5)
        .iter()
        .map(|u| format!("{}（{}）", u.id, u.name))
        .collect();
    let hint = if like.is_empty() {
        "`yuqing config` 列出全部单位（[[respond.units]]）".to_string()
    } else {
        format!("相近的单位：{}", like.join("、"))
    };
    bail!("单位“{given}”不在单位名录中；{hint}")
}

fn load(arg: &ConfigArg) -> anyhow::Result<Config> {
    Ok(yuqing::config::load(arg.config.as_deref())?)
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: logs redirected to a file or a journal stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run_stages(config: Config, stages: &[Stage]) -> anyhow::Result<()> {
    if stages.len() == 1 && config.bus.kind == common::config::BusKind::Embedded {
        // The embedded log lives inside one process: a lone stage on it would talk to nobody.
        bail!(
            "stage {} on the embedded bus would run alone: use `yuqing run` for all stages in one \
             process, or set bus.kind = \"kafka\" to run stages as separate processes",
            stages[0]
        );
    }
    init_logging(&config);
    let shutdown = Shutdown::new();
    common::shutdown::cancel_on_signal(shutdown.clone());
    Pipeline::new(config).await?.run(stages, shutdown).await
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("yuqing: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain; no backtrace for a user's mistake.
            eprintln!("yuqing: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    match cli.command {
        Command::Demo {
            config,
            feed_listen,
            speed,
        } => demo(load(&config)?, &feed_listen, speed).await,
        Command::Run(c) => run_stages(load(&c)?, &Stage::ALL).await,
        Command::Ingest(c) => run_stages(load(&c)?, &[Stage::Ingest]).await,
        Command::Analyze { config, jsonl } => {
            let config = load(&config)?;
            if jsonl {
                let corrections = yuqing::learn::corrections_for_offline(&config).await?;
                let stdin = std::io::stdin();
                analyze::tools::analyze_jsonl_learned(
                    &config.analyze,
                    &corrections,
                    &mut stdin.lock(),
                    &mut stdout.lock(),
                )?;
                Ok(())
            } else {
                run_stages(config, &[Stage::Analyze]).await
            }
        }
        Command::Respond(c) => run_stages(load(&c)?, &[Stage::Respond]).await,
        Command::Dashboards(c) => run_stages(load(&c)?, &[Stage::Dashboards]).await,
        Command::Assign { config, .. } => {
            let config = load(&config)?;
            let stdin = std::io::stdin();
            respond::tools::assign_jsonl(&config.respond, &mut stdin.lock(), &mut stdout.lock())?;
            Ok(())
        }
        Command::Extract { target } => {
            ingest::tools::extract(&target, &mut stdout.lock()).await?;
            Ok(())
        }
        Command::Eval {
            task,
            file,
            fold,
            rest,
            learn_from,
            config,
        } => {
            let fold = fold
                .map(|f| ingest::tools::Fold::parse(&f, rest))
                .transpose()?;
            eval(&task, &file, fold, learn_from.as_deref(), &load(&config)?)
        }
        Command::Learn { file, config } => {
            let report = yuqing::learn::import(&file, &load(&config)?).await?;
            writeln!(stdout.lock(), "{report}")?;
            Ok(())
        }
        Command::Bench {
            target,
            bus,
            docs,
            config,
        } => {
            let config = load(&config)?;
            let mut out = stdout.lock();
            match target.as_str() {
                "ingest" => ingest::tools::bench(&mut out).await?,
                "analyze" => analyze::tools::bench(&config.analyze, &mut out)?,
                "pipeline" => {
                    let bus = match bus.as_str() {
                        "embedded" => common::config::BusKind::Embedded,
                        "kafka" => common::config::BusKind::Kafka,
                        other => bail!("unknown bus {other:?} (embedded | kafka)"),
                    };
                    yuqing::bench::pipeline(config, bus, docs, &mut out).await?
                }
                other => bail!("unknown benchmark {other:?} (ingest | analyze | pipeline)"),
            }
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    name,
                    role,
                    unit,
                    create,
                    config,
                },
        } => {
            let config = load(&config)?;
            // Checked before the password is read: a typo fails at once.
            let unit = unit
                .as_deref()
                .map(|u| registry_unit(&config, u))
                .transpose()?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("无法从标准输入读取密码")?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.chars().count() < 10 {
                bail!("密码至少 10 个字符");
            }
            let registry = respond::registry::unit_registry(&config.respond);
            let dir = dashboards::tools::add_user(
                &config.dashboards,
                &config.data_dir,
                &dashboards::tools::NewAccount {
                    name: &name,
                    role: &role,
                    unit: unit.as_ref(),
                    password,
                    create,
                },
                Some(&registry),
            )?;
            let unit = unit
                .map(|u| format!("，单位 {}（{}）", u.name, u.id))
                .unwrap_or_default();
            writeln!(
                stdout.lock(),
                "已保存用户 {name}（角色 {role}{unit}），写入数据目录 {}",
                dir.parent().unwrap_or(&dir).display()
            )?;
            Ok(())
        }
        Command::Config(c) => {
            let config = load(&c)?;
            let mut value = toml::Value::try_from(&config)?;
            redact_secrets(&mut value);
            let text = toml::to_string_pretty(&value)?;
            write!(stdout.lock(), "{text}")?;
            Ok(())
        }
    }
}

/// Blank out credentials so `yuqing config` output can be pasted into a ticket.
fn redact_secrets(value: &mut toml::Value) {
    match value {
        toml::Value::Table(table) => {
            for (key, v) in table.iter_mut() {
                let key = key.to_ascii_lowercase();
                let secret = ["secret", "password", "token", "sasl.password"]
                    .iter()
                    .any(|s| key.contains(s));
                match v {
                    toml::Value::String(s) if secret && !s.is_empty() => *s = "<redacted>".into(),
                    _ => redact_secrets(v),
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

fn eval(
    task: &str,
    file: &Path,
    fold: Option<ingest::tools::Fold>,
    learn_from: Option<&Path>,
    config: &Config,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in std::iter::once(file).chain(learn_from) {
        if !f.exists() {
            bail!("no such file: {}", f.display());
        }
    }
    match task {
        "extraction" if learn_from.is_some() => {
            bail!(
                "--learn-from needs a task with a learned field (domain, sentiment, rumor, emergency)"
            )
        }
        "extraction" => ingest::tools::eval_extraction(file, fold, &mut out)?,
        _ => {
            let keep = |id: &str| fold.as_ref().is_none_or(|f| f.contains(id));
            let options = analyze::tools::EvalOptions {
                keep: &keep,
                learn_from,
            };
            analyze::tools::eval_with(task, file, &config.analyze, &options, &mut out)?
        }
    }
    Ok(())
}

async fn demo(mut config: Config, feed_listen: &str, speed: f64) -> anyhow::Result<()> {
    init_logging(&config);
    let shutdown = Shutdown::new();
    common::shutdown::cancel_on_signal(shutdown.clone());
    let listener = tokio::net::TcpListener::bind(feed_listen)
        .await
        .with_context(|| format!("cannot listen on {feed_listen} for the demo site"))?;
    let site = yuqing::demo::serve(listener, speed, shutdown.clone())?;
    config.bus.kind = common::config::BusKind::Embedded;
    // The demo serves loopback only; let its visitors read the public feed without an account
    // (cases and every write still need a login).
    config.dashboards.auth.public_read_api = true;
    config
        .ingest
        .sources
        .extend(yuqing::demo_sources(&site.base_url(), 5));
    tracing::info!(
        feed = %site.base_url(),
        dashboard = %format!("http://{}", config.dashboards.listen),
        data_dir = %config.data_dir.display(),
        "demo running: items appear over about {} s; Ctrl-C stops",
        yuqing::demo::duration(speed).as_secs()
    );
    Pipeline::new(config)
        .await?
        .run(&Stage::ALL, shutdown)
        .await
}
