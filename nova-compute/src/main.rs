use clap::Parser;
use nova_common::service::{daemon_main, CommonArgs};

/// nova-compute: runs instances on this hypervisor host.
#[derive(Parser)]
#[command(name = "nova-compute", version)]
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
    daemon_main("nova-compute", |_: Args, cfg, shutdown| {
        nova_compute::run(cfg, shutdown)
    })
}
