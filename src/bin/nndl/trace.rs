//! `nndl trace`: the chapter walked through for one example, in the order
//! it is written, or as one JSON object.

use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use nndl::cost::Output;
use nndl::trace::{EPSILON, Trace, trace};
use nndl::{Error, Network, Result, image_input, model};

use crate::args::{TraceArgs, Values};
use crate::cost_of;

/// Vectors longer than this, and matrices with more entries, show their
/// largest entries only.
const WHOLE: usize = 16;
const SHOWN: usize = 8;

pub(crate) fn run_trace(args: TraceArgs) -> Result<()> {
    let (net, origin) = match &args.model {
        Some(path) => (model::load(path)?.net, path.display().to_string()),
        None => {
            let mut net =
                Network::<f64>::new(&args.layers.0, &mut ChaCha8Rng::seed_from_u64(args.seed))?;
            net.activation = args.activation;
            net.cost = cost_of(args.output, args.cost)?;
            (net, format!("random, seed {}", args.seed))
        }
    };
    let (n_in, n_out) = (net.sizes[0], net.sizes[net.sizes.len() - 1]);
    let x: Array1<f64> = match (&args.input, &args.image) {
        (Some(Values(x)), _) if x.len() != n_in => {
            return Err(Error::Usage(format!(
                "--input: {} values for the {n_in} input neurons",
                x.len()
            )));
        }
        (Some(Values(x)), _) => Array1::from(x.clone()),
        (None, Some(path)) => {
            let side = image_input::SIDE;
            if n_in != side * side {
                return Err(Error::Usage(format!(
                    "--image: the network takes {n_in} inputs, not the {} pixels of a {side}×{side} image",
                    side * side
                )));
            }
            Array1::from(image_input::load_digit(path)?)
        }
        (None, None) => return Err(Error::Usage("give --input or --image".into())),
    };
    let y: Array1<f64> = match (&args.target, args.label) {
        (Some(Values(y)), _) if y.len() != n_out => {
            return Err(Error::Usage(format!(
                "--target: {} values for the {n_out} output neurons",
                y.len()
            )));
        }
        (Some(Values(y)), _) => Array1::from(y.clone()),
        (None, Some(d)) if d >= n_out => {
            return Err(Error::Usage(format!(
                "--label {d}: the network has {n_out} outputs, 0 to {}",
                n_out - 1
            )));
        }
        (None, Some(d)) => Array1::from_shape_fn(n_out, |j| f64::from(u8::from(j == d))),
        (None, None) => return Err(Error::Usage("give --target or --label".into())),
    };
    let t = trace(&net, x.view(), y.view());
    if args.json {
        let line = serde_json::to_string(&Json::of(&net, &t, &x, &y))
            .map_err(|e| Error::Usage(e.to_string()))?;
        say!("{line}");
    } else {
        say!("{}", text(&net, &t, &y, &origin));
    }
    Ok(())
}

/// The JSON view: every number exact.
#[derive(Serialize)]
struct Json {
    sizes: Vec<usize>,
    x: Vec<f64>,
    y: Vec<f64>,
    cost: f64,
    layers: Vec<LayerJson>,
    finite_difference: FiniteDifference,
    backprop: Passes,
}

#[derive(Serialize)]
struct LayerJson {
    l: usize,
    z: Vec<f64>,
    a: Vec<f64>,
    delta: Vec<f64>,
    nabla_b: Vec<f64>,
    nabla_w: Vec<Vec<f64>>,
}

#[derive(Serialize)]
struct FiniteDifference {
    epsilon: f64,
    max_relative_error: f64,
    forward_passes: usize,
}

#[derive(Serialize)]
struct Passes {
    forward_passes: usize,
    backward_passes: usize,
}

impl Json {
    fn of(net: &Network<f64>, t: &Trace, x: &Array1<f64>, y: &Array1<f64>) -> Json {
        let s = &t.steps;
        Json {
            sizes: net.sizes.clone(),
            x: x.to_vec(),
            y: y.to_vec(),
            cost: t.cost,
            layers: (0..net.layers())
                .map(|i| LayerJson {
                    l: i + 2,
                    z: s.zs[i].to_vec(),
                    a: s.activations[i + 1].to_vec(),
                    delta: s.deltas[i].to_vec(),
                    nabla_b: s.nabla_b[i].to_vec(),
                    nabla_w: s.nabla_w[i]
                        .rows()
                        .into_iter()
                        .map(|r| r.to_vec())
                        .collect(),
                })
                .collect(),
            finite_difference: FiniteDifference {
                epsilon: EPSILON,
                max_relative_error: t.max_relative_error,
                forward_passes: t.forward_passes,
            },
            backprop: Passes {
                forward_passes: 1,
                backward_passes: 1,
            },
        }
    }
}

/// The chapter's superscript for layer `l`.
fn sup(l: usize) -> String {
    l.to_string()
        .chars()
        .map(|c| {
            "⁰¹²³⁴⁵⁶⁷⁸⁹"
                .chars()
                .nth(c.to_digit(10).unwrap_or(0) as usize)
                .unwrap_or(c)
        })
        .collect()
}

fn number(x: f64) -> String {
    if x == 0.0 || (1e-4..1e4).contains(&x.abs()) {
        format!("{x:.6}")
    } else {
        format!("{x:.4e}")
    }
}

/// A vector whole, or its largest entries by magnitude.
fn vector(v: &Array1<f64>) -> String {
    if v.len() <= WHOLE {
        let items: Vec<String> = v.iter().map(|&x| number(x)).collect();
        return format!("[{}]", items.join(", "));
    }
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&p, &q| v[q].abs().total_cmp(&v[p].abs()));
    let items: Vec<String> = order[..SHOWN]
        .iter()
        .map(|&j| format!("[{j}] {}", number(v[j])))
        .collect();
    format!("{} values; the largest: {}", v.len(), items.join(", "))
}

/// A matrix row by row, or its largest entries by magnitude.
fn matrix(m: &Array2<f64>, indent: &str) -> String {
    if m.len() <= WHOLE * 2 && m.ncols() <= WHOLE {
        let rows: Vec<String> = m
            .rows()
            .into_iter()
            .map(|r| format!("{indent}{}", vector(&r.to_owned())))
            .collect();
        return rows.join("\n");
    }
    let mut entries: Vec<(usize, usize, f64)> =
        m.indexed_iter().map(|((j, k), &v)| (j, k, v)).collect();
    entries.sort_by(|p, q| q.2.abs().total_cmp(&p.2.abs()));
    let items: Vec<String> = entries[..SHOWN]
        .iter()
        .map(|(j, k, v)| format!("({j}, {k}) {}", number(*v)))
        .collect();
    format!(
        "{indent}{}×{} entries; the largest: {}",
        m.nrows(),
        m.ncols(),
        items.join(", ")
    )
}

/// The text view, in the chapter's order.
fn text(net: &Network<f64>, t: &Trace, y: &Array1<f64>, origin: &str) -> String {
    let s = &t.steps;
    let layers = net.layers();
    let last = sup(layers + 1);
    let f = match net.activation {
        nndl::Activation::Sigmoid => "σ",
        other => other.name(),
    };
    let mut out = vec![format!(
        "Network {:?} ({origin}): {} neurons, {} output, {} cost",
        net.sizes,
        net.activation,
        net.cost.output(),
        net.cost
    )];
    out.push(String::new());
    out.push("Feedforward".into());
    out.push(format!("  a¹ = x = {}", vector(&s.activations[0])));
    for i in 0..layers {
        let (l, p) = (sup(i + 2), sup(i + 1));
        let g = if i + 1 == layers {
            match net.cost.output() {
                Output::Softmax => "softmax".to_string(),
                Output::Sigmoid => "σ".to_string(),
            }
        } else {
            f.to_string()
        };
        out.push(format!("  z{l} = w{l} a{p} + b{l} = {}", vector(&s.zs[i])));
        out.push(format!(
            "  a{l} = {g}(z{l}) = {}",
            vector(&s.activations[i + 1])
        ));
    }
    out.push(format!("  y = {}", vector(y)));
    let formula = match net.cost {
        nndl::Cost::Quadratic => format!("½‖a{last} − y‖²"),
        nndl::Cost::CrossEntropy => format!("−Σ [y ln a{last} + (1 − y) ln(1 − a{last})]"),
        nndl::Cost::LogLikelihood => format!("−ln a{last}_y"),
    };
    out.push(format!("  C = {formula} = {}", number(t.cost)));
    out.push(String::new());
    out.push("Backpropagation".into());
    match &t.bp1 {
        Some((grad_a, sigma_prime)) => {
            out.push(format!("  BP1  δ{last} = ∇_a C ⊙ σ'(z{last})"));
            out.push(format!("         ∇_a C = {}", vector(grad_a)));
            out.push(format!("         σ'(z{last}) = {}", vector(sigma_prime)));
        }
        None => out.push(format!(
            "  BP1  δ{last} = a{last} − y (softmax with the log-likelihood cost)"
        )),
    }
    out.push(format!(
        "         δ{last} = {}",
        vector(&s.deltas[layers - 1])
    ));
    for i in (0..layers - 1).rev() {
        let (l, n) = (sup(i + 2), sup(i + 3));
        let (back, prime) = &t.bp2[i];
        out.push(format!("  BP2  δ{l} = ((w{n})ᵀ δ{n}) ⊙ {f}'(z{l})"));
        out.push(format!("         (w{n})ᵀ δ{n} = {}", vector(back)));
        out.push(format!("         {f}'(z{l}) = {}", vector(prime)));
        out.push(format!("         δ{l} = {}", vector(&s.deltas[i])));
    }
    for i in (0..layers).rev() {
        let l = sup(i + 2);
        out.push(format!(
            "  BP3  ∂C/∂b{l} = δ{l} = {}",
            vector(&s.nabla_b[i])
        ));
    }
    for i in (0..layers).rev() {
        let (l, p) = (sup(i + 2), sup(i + 1));
        out.push(format!("  BP4  ∂C/∂w{l}_jk = a{p}_k δ{l}_j:"));
        out.push(matrix(&s.nabla_w[i], "         "));
    }
    let parameters: usize = net.weights.iter().map(|w| w.len()).sum::<usize>()
        + net.biases.iter().map(|b| b.len()).sum::<usize>();
    out.push(String::new());
    out.push(format!(
        "Eq. (46): ∂C/∂p ≈ (C(p + ε) − C(p)) / ε, ε = {EPSILON:e}, for each of the {parameters} weights and biases"
    ));
    out.push(format!(
        "  largest relative error against backpropagation: {:.1e}",
        t.max_relative_error
    ));
    out.push(format!(
        "  forward passes: eq. (46) {} (one per weight and bias, after the one for C); backpropagation 1 forward and 1 backward, for all of them",
        t.forward_passes
    ));
    out.join("\n")
}
