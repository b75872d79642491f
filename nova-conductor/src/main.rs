use clap::Parser;
use nova_common::service::{daemon_main, CommonArgs};

/// nova-conductor: the database proxy and build orchestrator.
#[derive(Parser)]
#[command(name = "nova-conductor", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

impl AsRef<CommonArgs> for Args {
    fn as_ref(&self) -> &CommonArgs {
        &self.common
    }
}

fn main() -> std::process::ExitCode {
    daemon_main("nova-conductor", |_: Args, cfg, shutdown| {
        nova_conductor::run(cfg, shutdown)
    })
}
