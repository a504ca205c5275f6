//! The flags of `lanewatch demo` ([`DemoArgs`]), converted to [`DemoOptions`].

use std::net::SocketAddr;

use crate::demo::DemoOptions;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where to serve /metrics, /healthz and /readyz (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9898")]
    pub listen: SocketAddr,
    /// Simulated minutes per real minute.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Simulator seed (same seed, same traffic).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl From<DemoArgs> for DemoOptions {
    fn from(a: DemoArgs) -> Self {
        DemoOptions {
            listen: a.listen,
            speed: a.speed,
            seed: a.seed,
        }
    }
}
