//! How many rebalances a group coordinator completes per second: `--members` classic members
//! (one connection each, as many clients would have), all of them rejoining each round with new
//! subscription metadata, which forces a rebalance; a round ends when every member has its
//! assignment (JoinGroup v9 and SyncGroup v5 on the wire, what Java's consumer sends).
//!
//! ```text
//! cargo run --release -p kafkit-testkit --example group_rebalance -- \
//!     --bootstrap 127.0.0.1:9092 --members 100 --rounds 50
//! ```
//!
//! Prints one line: `members=100 rounds=50 seconds=1.23 rebalances_per_s=40.6 median_ms=24.1`.
//! Used by `bench/groups.py`, which runs it against kafkit's broker and Kafka in turn. The
//! broker needs `group.initial.rebalance.delay.ms=0`, or the first round waits for it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafkit_testkit::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafkit_testkit::kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafkit_testkit::kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, JoinGroupRequest, SyncGroupRequest,
};
use kafkit_testkit::kafka_protocol::protocol::StrBytes;
use kafkit_testkit::{ErrorCode, WireClient};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    bootstrap: String,
    members: usize,
    rounds: usize,
    group: String,
}

fn args() -> Result<Args, BoxError> {
    let mut args = Args {
        bootstrap: "127.0.0.1:9092".into(),
        members: 100,
        rounds: 50,
        group: format!("rebalance-bench-{}", std::process::id()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bootstrap" => args.bootstrap = value,
            "--members" => args.members = value.parse()?,
            "--rounds" => args.rounds = value.parse()?,
            "--group" => args.group = value,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(args)
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// One member: its connection and id.
struct Member {
    client: WireClient<TcpStream>,
    id: String,
}

/// Consumer-protocol subscription metadata carrying `round` as user data, so that each round's
/// metadata differs from the last and every rejoin rebalances the group.
fn metadata(round: usize) -> Bytes {
    let mut out = Vec::new();
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&5i16.to_be_bytes());
    out.extend_from_slice(b"topic");
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&(round as u64).to_be_bytes());
    Bytes::from(out)
}

fn join_request(group: &str, member: &str, round: usize) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(45_000)
        .with_rebalance_timeout_ms(60_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(metadata(round))])
}

/// Joins (and, for a new member, joins again with the id it is given), then syncs; the
/// leader hands every member a small assignment. A sync that learns of a newer rebalance (a
/// member that joined late) joins again, as a consumer does.
async fn rebalance(mut m: Member, group: String, round: usize) -> Result<Member, BoxError> {
    loop {
        let mut joined = m.client.send(9, &join_request(&group, &m.id, round)).await?;
        if joined.error_code == ErrorCode::MemberIdRequired.code() {
            m.id = joined.member_id.to_string();
            joined = m.client.send(9, &join_request(&group, &m.id, round)).await?;
        }
        if joined.error_code != 0 {
            return Err(format!("join: {}", ErrorCode::from(joined.error_code)).into());
        }
        m.id = joined.member_id.to_string();
        let assignments = joined
            .members
            .iter()
            .map(|member| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(member.member_id.clone())
                    .with_assignment(Bytes::from_static(b"assignment"))
            })
            .collect();
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(joined.generation_id)
            .with_member_id(s(&m.id))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(joined.protocol_name.clone())
            .with_assignments(assignments);
        let synced = m.client.send(5, &sync).await?;
        match ErrorCode::from(synced.error_code) {
            ErrorCode::None => return Ok(m),
            ErrorCode::RebalanceInProgress => continue,
            other => return Err(format!("sync: {other}").into()),
        }
    }
}

/// The coordinator's address, asked of the bootstrap broker until it has one.
async fn coordinator(bootstrap: &str, group: &str) -> Result<String, BoxError> {
    let mut client = WireClient::new(TcpStream::connect(bootstrap).await?, "rebalance-bench");
    let request = FindCoordinatorRequest::default()
        .with_key(s(group))
        .with_key_type(0);
    for _ in 0..100 {
        let answer = client.send(3, &request).await?;
        if answer.error_code == 0 {
            return Ok(format!("{}:{}", answer.host, answer.port));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("no coordinator".into())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let args = args()?;
    let address = coordinator(&args.bootstrap, &args.group).await?;
    let mut members = Vec::with_capacity(args.members);
    for i in 0..args.members {
        let stream = TcpStream::connect(&address).await?;
        stream.set_nodelay(true)?;
        members.push(Member {
            client: WireClient::new(stream, format!("member-{i}")),
            id: String::new(),
        });
    }
    let mut durations = Vec::with_capacity(args.rounds);
    let mut started = None;
    // Round 0 forms the group and is not counted.
    for round in 0..=args.rounds {
        let begin = Instant::now();
        let mut tasks = JoinSet::new();
        for m in members.drain(..) {
            tasks.spawn(rebalance(m, args.group.clone(), round));
        }
        while let Some(done) = tasks.join_next().await {
            members.push(done??);
        }
        if round == 0 {
            started = Some(Instant::now());
        } else {
            durations.push(begin.elapsed());
        }
    }
    let total = started.map(|s| s.elapsed()).unwrap_or_default();
    durations.sort();
    let median = durations.get(durations.len() / 2).copied().unwrap_or_default();
    println!(
        "members={} rounds={} seconds={:.3} rebalances_per_s={:.1} median_ms={:.1}",
        args.members,
        args.rounds,
        total.as_secs_f64(),
        args.rounds as f64 / total.as_secs_f64(),
        median.as_secs_f64() * 1000.0
    );
    Ok(())
}
