//! The `lanewatch` binary: parses flags (`lanewatch::cli`), sets up logging, calls the
//! library, and exits with the status the library's error names (2: a user error, 1: a
//! failure at run time).

use std::io::IsTerminal;
use std::process::ExitCode;

use lanewatch::cli::{Command, LogFormat};
use lanewatch::exit::Failure;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = lanewatch::cli::parse();
    // The demo's table is redrawn in place on a terminal: an info log line between two
    // redraws would tear it, so there only warnings are logged (unless RUST_LOG says).
    let table = matches!(cli.command, Command::Demo(_)) && std::io::stderr().is_terminal();
    init_tracing(
        cli.log_format,
        cli.log_time_zone,
        if table { "warn" } else { "info" },
    );
    match cli.command {
        Command::CheckConfig { config } => match lanewatch::Config::load(&config).and_then(|c| {
            // The registry's traffic tables are the simulator's; checked here too.
            lanewatch::simulate::traffic::of_registry(&c.registry, c.registry_file.as_deref())
                .map(|_| c)
        }) {
            Ok(c) => {
                println!(
                    "{}: ok ({} checkpoints, {} registered lanes, topic {:?}, group {:?})",
                    config.display(),
                    c.registry.checkpoints.len(),
                    c.registry.lane_count(),
                    c.source.topic,
                    c.source.group_id
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Demo(args) => in_runtime(|shutdown| lanewatch::demo::run(args.into(), shutdown)),
        Command::Simulate(args) => in_runtime(|shutdown| async move {
            let s = lanewatch::simulate::run(args.into(), shutdown).await?;
            tracing::info!(
                written = s.written,
                interrupted = s.interrupted,
                "simulation done"
            );
            Ok::<_, lanewatch::simulate::SimError>(())
        }),
        Command::Replay(args) => {
            let shutdown = CancellationToken::new();
            let s2 = shutdown.clone();
            // Ctrl-C ends the replay cleanly; the handler thread needs no runtime.
            std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(lanewatch::run::cancel_on_signals(s2));
                }
            });
            match lanewatch::replay::run(args.into(), shutdown) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        Command::Run { config } => match lanewatch::Config::load(&config) {
            Ok(config) => in_runtime(|shutdown| lanewatch::run(config, shutdown)),
            Err(e) => fail(&e),
        },
    }
}

/// The error's message (it names the fix) and its exit status: 2 for a user error, 1
/// for a failure at run time (`lanewatch::exit`).
fn fail(e: &dyn Failure) -> ExitCode {
    eprintln!("lanewatch: {e}");
    e.exit_code()
}

/// Run `f` on a multi-threaded runtime with SIGINT/SIGTERM cancelling its token.
fn in_runtime<F, Fut, E>(f: F) -> ExitCode
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: Failure,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lanewatch: cannot start the async runtime: {e}");
            return ExitCode::from(lanewatch::exit::FAILURE);
        }
    };
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(lanewatch::run::cancel_on_signals(shutdown.clone()));
        match f(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    })
}

fn init_tracing(format: LogFormat, zone: lanewatch::time::Zone, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => b.with_timer(lanewatch::time::LogTime(zone)).init(),
        LogFormat::Json => b.json().init(),
    }
}
