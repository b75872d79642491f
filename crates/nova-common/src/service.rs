//! What every daemon's `main` shares: the command line, logging, signals.

use crate::config::{ConfigError, NovaConfig};
use clap::Parser;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// The options every Nova binary takes, as oslo.config's CLI.
#[derive(Parser, Debug, Clone)]
pub struct CommonArgs {
    /// Path to a config file; repeatable, later files override earlier ones.
    #[arg(long = "config-file", value_name = "PATH")]
    pub config_file: Vec<PathBuf>,
    /// Directory whose *.conf files are read after the config files, sorted by name.
    #[arg(long = "config-dir", value_name = "DIR")]
    pub config_dir: Vec<PathBuf>,
}

impl CommonArgs {
    /// Load the configuration: the given files, or `/etc/nova/nova.conf` when
    /// none is given (and it exists), then the directories.
    pub fn load(&self) -> Result<NovaConfig, ConfigError> {
        let mut files = self.config_file.clone();
        if files.is_empty() && self.config_dir.is_empty() {
            let default = PathBuf::from("/etc/nova/nova.conf");
            if default.exists() {
                files.push(default);
            }
        }
        NovaConfig::load(&files, &self.config_dir)
    }
}

/// Exit codes, sysexits-style.
pub const EXIT_CONFIG: u8 = 78;
pub const EXIT_FAILURE: u8 = 1;

/// Set up tracing from `[DEFAULT] debug` / `log_file`; `RUST_LOG` overrides the level.
pub fn init_logging(cfg: &NovaConfig, binary: &str) {
    use tracing_subscriber::EnvFilter;
    let level = if cfg.default.debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},lapin=warn,sqlx=warn,hyper=warn,reqwest=warn,amq_protocol=warn"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let file = cfg.default.log_file.as_ref().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    match file {
        Some(f) => builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .init(),
        None => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init(),
    }
    for w in &cfg.warnings {
        tracing::warn!(binary, "{w}");
    }
}

/// A token cancelled on SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
        }
        t.cancel();
    });
    token
}

/// The body of every daemon's `main`: parse args, load config, log, run, map errors to exit codes.
pub fn daemon_main<A, F, Fut>(binary: &'static str, run: F) -> std::process::ExitCode
where
    A: Parser + AsRef<CommonArgs>,
    F: FnOnce(A, NovaConfig, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let args = A::parse();
    let cfg = match args.as_ref().load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{binary}: configuration error: {e}");
            return std::process::ExitCode::from(EXIT_CONFIG);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{binary}: cannot start runtime: {e}");
            return std::process::ExitCode::from(EXIT_FAILURE);
        }
    };
    rt.block_on(async move {
        init_logging(&cfg, binary);
        tracing::info!(binary, host = %cfg.default.host, "starting");
        let shutdown = shutdown_on_signals();
        crate::systemd::spawn_watchdog(shutdown.clone());
        let s = shutdown.clone();
        tokio::spawn(async move {
            s.cancelled().await;
            crate::systemd::stopping();
        });
        match run(args, cfg, shutdown).await {
            Ok(()) => {
                tracing::info!(binary, "stopped");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(binary, "fatal: {e}");
                std::process::ExitCode::from(EXIT_FAILURE)
            }
        }
    })
}

impl AsRef<CommonArgs> for CommonArgs {
    fn as_ref(&self) -> &CommonArgs {
        self
    }
}
