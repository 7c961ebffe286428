//! Throughput of the TSQR fold (rx-models' Householder kernel) alone, on data in memory:
//! `cargo run --release -p benches --example tsqr_fold -- [--rows 2000000] [--cols 18]`.
//! Prints GFlop/s counting 2·q² flops per row, the cost of a Householder QR of a tall matrix.

use std::time::Instant;

use rx_models::tsqr::Tsqr;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows = arg(&args, "--rows", 2_000_000);
    let q = arg(&args, "--cols", 18);
    let block = Tsqr::BLOCK;
    // A deterministic, well-conditioned matrix, one block's worth repeated with variation.
    let data: Vec<f64> = (0..block * q)
        .map(|k| ((k * 2_654_435_761usize) % 1000) as f64 / 997.0 - 0.5)
        .collect();
    for rep in 0..5 {
        let t = Instant::now();
        let mut tsqr = Tsqr::new(q);
        let mut done = 0;
        while done < rows {
            let len = (rows - done).min(block);
            tsqr.add_rows(len, |mut m| {
                for j in 0..q {
                    for i in 0..len {
                        m[(i, j)] = data[j * block + i] + (done + i) as f64 * 1e-9;
                    }
                }
            });
            done += len;
        }
        let s = t.elapsed().as_secs_f64();
        let gflops = 2.0 * (q * q) as f64 * rows as f64 / s / 1e9;
        println!(
            "rep {rep}: {s:.3} s, {gflops:.2} GFlop/s, {:.1} ns/row (R[0,0] = {:.3})",
            s / rows as f64 * 1e9,
            tsqr.r()[(0, 0)]
        );
    }
}
