use clap::Parser;
use nova_common::service::{daemon_main, CommonArgs};

/// nova-api: the OpenStack Compute API.
#[derive(Parser)]
#[command(name = "nova-api", version)]
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
    daemon_main("nova-api", |_: Args, cfg, shutdown| {
        nova_api::run(cfg, shutdown)
    })
}
