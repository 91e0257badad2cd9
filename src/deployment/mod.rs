//! `verify --report`: the deployment verification report the ops team used to fill in by hand,
//! with every value measured: what is installed, how the exports went, whether the sources are
//! alive, and a verdict. Facts are gathered at the edge (`facts`); the installed schedule is read
//! by `calendar`; `metrics`, `assess` and `render` are pure.

mod assess;
mod calendar;
mod facts;
mod metrics;
mod render;
mod verification;

pub use assess::assess;
pub use facts::gather;
pub use render::render;
pub use verification::DeploymentVerdict;
