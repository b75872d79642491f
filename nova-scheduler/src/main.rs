use clap::Parser;
use nova_common::service::{daemon_main, CommonArgs};

/// nova-scheduler: picks a compute host for each instance.
#[derive(Parser)]
#[command(name = "nova-scheduler", version)]
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
    daemon_main("nova-scheduler", |_: Args, cfg, shutdown| {
        nova_scheduler::run(cfg, shutdown)
    })
}
