//! A standalone driver for the analyze tools, for working on the analyzer without the whole
//! `yuqing` CLI: `analyze-tools eval <task> FILE…`, `analyze-tools jsonl < in > out`,
//! `analyze-tools bench`. Uses the embedded default config.

use std::io::Write;
use std::process::ExitCode;

/// The same allocator as the `yuqing` binary, so both report the same figures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = analyze::Config::default();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match args.first().map(String::as_str) {
        Some("eval") if args.len() >= 3 => args[2..].iter().try_for_each(|f| {
            let r = analyze::tools::eval(&args[1], std::path::Path::new(f), &config, &mut out);
            let _ = writeln!(out);
            r
        }),
        Some("jsonl") => {
            let stdin = std::io::stdin();
            analyze::tools::analyze_jsonl(&config, &mut stdin.lock(), &mut out)
        }
        Some("bench") => analyze::tools::bench(&config, &mut out),
        // The analyzer alone in a loop, for a profiler:
        // `analyze-tools profile SECONDS [learned] < texts`.
        Some("profile") => (|| {
            let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
            let texts: Vec<String> = std::io::stdin().lines().map_while(Result::ok).collect();
            let analyzer = analyze::Analyzer::new(&config)?;
            // With `learned` after the seconds: the learned layer trained on the benchmark's
            // corrections too.
            let model = (args.get(2).map(String::as_str) == Some("learned")).then(|| {
                analyze::learn::Model::train(
                    &analyzer,
                    &analyze::tools::bench_corrections(),
                    &analyze::learn::Hyper::default(),
                )
            });
            let start = std::time::Instant::now();
            let mut n = 0u64;
            while start.elapsed().as_secs_f64() < secs {
                for t in &texts {
                    std::hint::black_box(analyzer.analyze_with(
                        &analyze::Input {
                            body: t,
                            ..analyze::Input::default()
                        },
                        model.as_ref(),
                    ));
                    n += 1;
                }
            }
            let _ = writeln!(
                out,
                "{:.0} docs/s",
                n as f64 / start.elapsed().as_secs_f64()
            );
            Ok(())
        })(),
        _ => {
            eprintln!("usage: analyze-tools eval <task> FILE… | jsonl | bench");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
