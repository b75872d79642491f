use clap::Parser;
use nova_common::service::{daemon_main, CommonArgs};

/// nova-network: fixed IPs and virtual interfaces for instances (FlatDHCPManager).
#[derive(Parser)]
#[command(name = "nova-network", version)]
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
    daemon_main("nova-network", |_: Args, cfg, shutdown| {
        nova_network::run(cfg, shutdown)
    })
}
