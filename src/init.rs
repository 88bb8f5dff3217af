//! How a network starts: its layer sizes, checked, and the scheme that
//! draws its weights and biases.

use crate::error::Error;

/// Refuses layer sizes before anything is allocated: fewer than two
/// layers, an empty layer, or more parameters (of `float_bytes` each) than
/// fit this machine's memory, where the buffers of training hold about
/// four copies of them.
pub fn check_sizes(sizes: &[usize], float_bytes: usize) -> Result<(), Error> {
    if sizes.len() < 2 {
        return Err(Error::Size(format!(
            "layers {sizes:?}: need at least an input and an output layer"
        )));
    }
    if let Some(l) = sizes.iter().position(|&n| n == 0) {
        return Err(Error::Size(format!(
            "layers {sizes:?}: layer {} has no neurons",
            l + 1
        )));
    }
    let parameters = sizes.windows(2).try_fold(0usize, |sum, s| {
        s[0].checked_add(1)?.checked_mul(s[1])?.checked_add(sum)
    });
    let bytes = parameters.and_then(|p| p.checked_mul(4 * float_bytes));
    let memory = physical_memory();
    match (parameters, bytes) {
        (Some(_), Some(b)) if memory.is_none_or(|mem| b <= mem) => Ok(()),
        _ => {
            let parameters = sizes
                .windows(2)
                .map(|s| (s[0] as f64 + 1.0) * s[1] as f64)
                .sum::<f64>();
            let gb = parameters * (4 * float_bytes) as f64 / 1e9;
            let have = memory.map_or(String::new(), |m| {
                format!(" (this machine has {:.1} GB)", m as f64 / 1e9)
            });
            Err(Error::Size(format!(
                "network too large: {parameters:.0} parameters, {gb:.1} GB to train{have}"
            )))
        }
    }
}

/// Total memory in bytes, where the system says (Linux).
pub(crate) fn physical_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// How the weights and biases start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Every weight and bias from N(0, 1), as network.py (chapters 1–2).
    Normal,
    /// Weights from N(0, 1/n_in), biases N(0, 1), as network2.py (chapter 3):
    /// z starts near 0, where σ is not saturated.
    Scaled,
    /// Weights from N(0, 2/n_in), biases 0 (He et al. 2015), for ReLU.
    He,
}

impl Init {
    pub const ALL: [Init; 3] = [Init::Normal, Init::Scaled, Init::He];

    /// The standard deviation of a weight into a neuron with `n_in` inputs.
    pub fn weight_sd(self, n_in: usize) -> f64 {
        match self {
            Init::Normal => 1.0,
            Init::Scaled => 1.0 / (n_in as f64).sqrt(),
            Init::He => (2.0 / n_in as f64).sqrt(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Init::Normal => "normal",
            Init::Scaled => "scaled",
            Init::He => "he",
        }
    }
}

impl std::str::FromStr for Init {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Init::ALL
            .into_iter()
            .find(|i| i.name() == s)
            .ok_or_else(|| format!("unknown initialisation '{s}' (expected normal, scaled or he)"))
    }
}
