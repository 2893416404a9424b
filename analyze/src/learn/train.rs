//! Multinomial logistic regression whose prior is centred on the lexicon: the weights start at
//! `w0` (which reproduces the lexicon's answer) and an L2 penalty pulls them back there. The
//! penalty is a fixed total, spread over the corrections, so the more corrections there are,
//! the further the data can move the model from the lexicon — and no further than they justify.
//!
//! Deterministic: examples come sorted by correction key, the per-epoch shuffle is a fixed
//! function of the example's position and the epoch, and every sum runs in one order.

/// One training item: sparse rows with values. Rows below the head's dense size are the
/// lexicon's features; the rest are vocabulary rows, each with the same value `text_value`
/// (a feature said twice is listed twice; scaled by the count's square root).
#[derive(Debug, Clone, Default)]
pub struct Example {
    pub dense: Vec<(u32, f32)>,
    pub text: Vec<u32>,
    pub text_value: f32,
    pub label: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    pub epochs: usize,
    /// AdaGrad's base step.
    pub rate: f32,
    /// Total prior weight on the lexicon's rows (in corrections' worth).
    pub l2_dense: f32,
    /// Total prior weight on the text rows.
    pub l2_text: f32,
}

impl Hyper {
    /// The combiner: a few dense rows, touched by every example, so a light prior suffices.
    pub fn combiner() -> Self {
        Hyper {
            epochs: 20,
            rate: 0.1,
            l2_dense: 2.0,
            l2_text: 0.0,
        }
    }
}

/// The text model's settings (chosen by held-out accuracy within the training folds).
impl Default for Hyper {
    fn default() -> Self {
        Hyper {
            epochs: 12,
            rate: 0.3,
            l2_dense: 8.0,
            l2_text: 2.0,
        }
    }
}

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The class scores of `ex` under weights `w` (`k` classes, row-major by feature row).
pub fn logits(w: &[f32], k: usize, ex: &Example, out: &mut [f32]) {
    out.fill(0.0);
    for &(r, v) in &ex.dense {
        let row = &w[r as usize * k..(r as usize + 1) * k];
        for (o, x) in out.iter_mut().zip(row) {
            *o += v * x;
        }
    }
    // Sum the text rows first, scale once.
    let mut text = [0.0f32; 64];
    let text = &mut text[..k.min(64)];
    for &r in &ex.text {
        let row = &w[r as usize * k..(r as usize + 1) * k];
        for (o, x) in text.iter_mut().zip(row) {
            *o += x;
        }
    }
    for (o, t) in out.iter_mut().zip(text.iter()) {
        *o += ex.text_value * t;
    }
}

/// In place: scores → probabilities.
pub fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in z.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in z.iter_mut() {
        *x /= sum;
    }
}

/// Fit from `w0` (the prior's centre; `rows × k`). At most 64 classes.
pub fn fit(examples: &[&Example], rows: usize, k: usize, w0: &[f32], hyper: &Hyper) -> Vec<f32> {
    debug_assert_eq!(w0.len(), rows * k);
    let mut w = w0.to_vec();
    if examples.is_empty() || k < 2 {
        return w;
    }
    let mut g2 = vec![0.0f32; w.len()];
    let n = examples.len() as f32;
    let (reg_dense, reg_text) = (hyper.l2_dense / n, hyper.l2_text / n);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut p = vec![0.0f32; k];
    let mut err = vec![0.0f32; k];
    for epoch in 0..hyper.epochs {
        order.sort_by_key(|&i| mix(((i as u64) << 16) ^ epoch as u64));
        for &i in &order {
            let ex = examples[i];
            logits(&w, k, ex, &mut p);
            softmax(&mut p);
            for (c, e) in err.iter_mut().enumerate() {
                *e = p[c] - if c as u32 == ex.label { 1.0 } else { 0.0 };
            }
            let mut step = |r: u32, v: f32, reg: f32| {
                let base = r as usize * k;
                for (c, e) in err.iter().enumerate() {
                    let j = base + c;
                    let g = v * e + reg * (w[j] - w0[j]);
                    if g != 0.0 {
                        g2[j] += g * g;
                        w[j] -= hyper.rate * g / (g2[j].sqrt() + 1e-6);
                    }
                }
            };
            for &(r, v) in &ex.dense {
                step(r, v, reg_dense);
            }
            for &r in &ex.text {
                step(r, ex.text_value, reg_text);
            }
        }
    }
    w
}

/// The temperature that makes `scores` (per example, `k` each) best calibrated on `labels`
/// (least negative log-likelihood), searched on a log scale between 0.25 and 8.
pub fn temperature(scores: &[Vec<f32>], labels: &[u32]) -> f32 {
    let nll = |t: f32| -> f64 {
        let mut total = 0.0f64;
        let mut z = Vec::new();
        for (s, &y) in scores.iter().zip(labels) {
            z.clear();
            z.extend(s.iter().map(|x| x / t));
            softmax(&mut z);
            total -= (z[y as usize].max(1e-9) as f64).ln();
        }
        total
    };
    // Golden-section search on ln t.
    let (mut lo, mut hi) = ((0.25f32).ln(), (8.0f32).ln());
    let g = 0.618_034f32;
    let (mut a, mut b) = (hi - g * (hi - lo), lo + g * (hi - lo));
    let (mut fa, mut fb) = (nll(a.exp()), nll(b.exp()));
    for _ in 0..30 {
        if fa <= fb {
            hi = b;
            b = a;
            fb = fa;
            a = hi - g * (hi - lo);
            fa = nll(a.exp());
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + g * (hi - lo);
            fb = nll(b.exp());
        }
    }
    ((lo + hi) / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &[u32], label: u32) -> Example {
        Example {
            dense: vec![(0, 1.0)],
            text: text.to_vec(),
            text_value: 1.0 / (text.len().max(1) as f32).sqrt(),
            label,
        }
    }

    #[test]
    fn learns_a_separable_signal_and_keeps_the_prior_without_data() {
        // Row 0: bias; rows 1, 2: words for class 0 and class 1.
        let data: Vec<Example> = (0..40).map(|i| ex(&[1 + (i % 2)], i % 2)).collect();
        let refs: Vec<&Example> = data.iter().collect();
        let w0 = vec![0.0; 3 * 2];
        let w = fit(&refs, 3, 2, &w0, &Hyper::default());
        let mut z = vec![0.0; 2];
        logits(&w, 2, &ex(&[2], 0), &mut z);
        assert!(z[1] > z[0] + 1.0, "{z:?}");
        logits(&w, 2, &ex(&[1], 0), &mut z);
        assert!(z[0] > z[1] + 1.0, "{z:?}");
        assert_eq!(fit(&[], 3, 2, &w0, &Hyper::default()), w0);
    }

    #[test]
    fn temperature_cools_overconfident_scores() {
        // Scores say 99 % but are right 70 % of the time.
        let scores: Vec<Vec<f32>> = (0..100).map(|_| vec![4.6, 0.0]).collect();
        let labels: Vec<u32> = (0..100).map(|i| u32::from(i % 10 >= 7)).collect();
        let t = temperature(&scores, &labels);
        let mut z = vec![4.6 / t, 0.0];
        softmax(&mut z);
        assert!((z[0] - 0.7).abs() < 0.02, "t {t} p {}", z[0]);
    }
}
