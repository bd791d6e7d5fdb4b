//! librdkafka's mock cluster as a broker process of its own, for the cross-process benchmark
//! (`bench/producers.py`): creates `--topic` with `--partitions` partitions on a one-broker mock
//! cluster, prints its bootstrap servers on the first line of stdout, and serves until its
//! standard input closes.

use std::io::Read as _;

use rdkafka::mocking::MockCluster;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str, default: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let cluster = MockCluster::new(1)?;
    cluster.create_topic(
        &value_of("--topic", "bench"),
        value_of("--partitions", "1").parse()?,
        1,
    )?;
    println!("{}", cluster.bootstrap_servers());
    // Serve until the benchmark closes our stdin (or ends).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    Ok(())
}
