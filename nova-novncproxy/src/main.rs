use clap::Parser;
use nova_common::service::{daemon_main, CommonArgs};

/// nova-novncproxy: the noVNC console proxy.
#[derive(Parser)]
#[command(name = "nova-novncproxy", version)]
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
    daemon_main("nova-novncproxy", |_: Args, cfg, shutdown| {
        nova_novncproxy::run(cfg, shutdown)
    })
}
