//! The broker over real sockets: pipelining, the KIP-511 fallback, hostile frames that cost only
//! their own connection, and the `kafkit-broker` binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafkit_broker::{Cluster, ClusterConfig};
use kafkit_protocol::frame::{encode_request_frame, request_header, split_frame};
use kafkit_protocol::response::decode_response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn cluster() -> Cluster {
    Cluster::start(ClusterConfig::default()).await.expect("cluster")
}

async fn read_frame(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Bytes> {
    loop {
        if let Some(frame) = split_frame(buf, 1 << 24).expect("frame") {
            return Some(frame);
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read_buf(buf))
            .await
            .expect("no timeout")
            .ok()?;
        if n == 0 {
            return None;
        }
    }
}

fn api_versions(version: i16, correlation_id: i32) -> BytesMut {
    let mut out = BytesMut::new();
    let header = request_header(ApiKey::ApiVersions, version, correlation_id, Some("test"));
    let body = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("kafkit-test"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    encode_request_frame(&mut out, &header, &body).expect("encode");
    out
}

fn metadata(version: i16, correlation_id: i32) -> BytesMut {
    let mut out = BytesMut::new();
    let header = request_header(ApiKey::Metadata, version, correlation_id, Some("test"));
    encode_request_frame(&mut out, &header, &MetadataRequest::default().with_topics(None)).expect("encode");
    out
}

/// Requests pipelined on one connection are answered in order.
#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let cluster = cluster().await;
    let mut s = TcpStream::connect(cluster.addrs()[0]).await.expect("connect");
    let mut all = BytesMut::new();
    for i in 0..10 {
        all.extend_from_slice(&if i % 2 == 0 {
            api_versions(2, i)
        } else {
            metadata(9, i)
        });
    }
    s.write_all(&all).await.expect("write");
    let mut buf = BytesMut::new();
    for i in 0..10 {
        let frame = read_frame(&mut s, &mut buf).await.expect("response");
        if i % 2 == 0 {
            let r = decode_response::<ApiVersionsResponse>(frame, 2).expect("decode");
            assert_eq!((r.header.correlation_id, r.body.error_code), (i, 0));
        } else {
            let r = decode_response::<MetadataResponse>(frame, 9).expect("decode");
            assert_eq!((r.header.correlation_id, r.body.brokers.len()), (i, 1));
        }
    }
}

/// An ApiVersions request of a version kafkit does not serve gets the KIP-511 reply.
#[tokio::test]
async fn unknown_api_versions_version_gets_the_kip511_reply() {
    let cluster = cluster().await;
    let mut s = TcpStream::connect(cluster.addrs()[0]).await.expect("connect");
    let mut req = BytesMut::new();
    let body = [0u8, 18, 0, 9, 0, 0, 0, 7, 0, 4, b't', b'e', b's', b't', 0, 0, 0];
    req.put_u32(body.len() as u32);
    req.extend_from_slice(&body);
    s.write_all(&req).await.expect("write");
    let mut buf = BytesMut::new();
    let frame = read_frame(&mut s, &mut buf).await.expect("reply");
    assert_eq!(&frame[..], &[0, 0, 0, 7, 0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4]);
    s.write_all(&api_versions(3, 8)).await.expect("retry at v3");
    let frame = read_frame(&mut s, &mut buf).await.expect("v3 reply");
    assert_eq!(
        decode_response::<ApiVersionsResponse>(frame, 3)
            .expect("decode")
            .body
            .error_code,
        0
    );
}

/// Each hostile frame closes its own connection; another connection keeps being served. On a
/// plaintext listener and on a SASL listener (before authentication, where also any request
/// but ApiVersions and SASL ones, and a garbage SASL token, close the connection).
#[rstest::rstest]
#[case::plaintext(0)]
#[case::sasl_before_authentication(1)]
#[tokio::test]
async fn hostile_frames_close_only_their_connection(#[case] listener: usize) {
    let mut config = ClusterConfig::default();
    for (k, v) in [
        (
            "listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        ),
        (
            "sasl.jaas.config",
            r#"PlainLoginModule required user_alice="alice-secret";"#,
        ),
    ] {
        config.set(k, v).expect(k);
    }
    let cluster = Cluster::start(config).await.expect("cluster");
    let target = cluster.listener_addrs()[0][listener];
    let hostile: Vec<Vec<u8>> = vec![
        vec![0xff, 0xff, 0xff, 0xff], // negative length
        vec![0x7f, 0xff, 0xff, 0xff], // 2 GiB frame
        vec![0, 0, 0, 3, 0, 3, 0],    // shorter than a header
        vec![0, 0, 0, 12, 0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0], // unknown api key
        vec![
            0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff,
        ], // Metadata v1 array of 2^31-1
        vec![0, 0, 0, 10, 0, 0, 0, 2, 0, 0, 0, 1, 0xff, 0xff], // Produce v2: not served
    ];
    let mut hostile = hostile;
    if listener == 1 {
        // Metadata before authentication.
        hostile.push(metadata(9, 1).to_vec());
        // A handshake, then a PLAIN token that is not one.
        let mut bytes = BytesMut::new();
        let header = request_header(ApiKey::SaslHandshake, 1, 1, Some("test"));
        let body = kafka_protocol::messages::SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_static_str("PLAIN"));
        encode_request_frame(&mut bytes, &header, &body).expect("encode");
        let header = request_header(ApiKey::SaslAuthenticate, 2, 2, Some("test"));
        let body = kafka_protocol::messages::SaslAuthenticateRequest::default()
            .with_auth_bytes(Bytes::from_static(b"\xff\x00\x00garbage"));
        encode_request_frame(&mut bytes, &header, &body).expect("encode");
        hostile.push(bytes.to_vec());
        // A SASL frame larger than 512 KiB before authentication.
        hostile.push((600 * 1024i32).to_be_bytes().to_vec());
    }
    let mut healthy = TcpStream::connect(cluster.addrs()[0]).await.expect("connect");
    let mut healthy_buf = BytesMut::new();
    for (i, frame) in hostile.iter().enumerate() {
        let mut s = TcpStream::connect(target).await.expect("connect");
        s.write_all(frame).await.expect("write");
        let mut buf = BytesMut::new();
        // Closed, after at most the answers to what came before the hostile part (the SASL
        // handshake, then SASL_AUTHENTICATION_FAILED).
        let mut answers = 0;
        while read_frame(&mut s, &mut buf).await.is_some() {
            answers += 1;
            assert!(answers <= 2, "hostile frame {i} must close the connection");
        }
        healthy
            .write_all(&api_versions(3, i as i32))
            .await
            .expect("write");
        let reply = read_frame(&mut healthy, &mut healthy_buf)
            .await
            .expect("still served");
        assert_eq!(
            decode_response::<ApiVersionsResponse>(reply, 3)
                .expect("decode")
                .header
                .correlation_id,
            i as i32
        );
    }
}

/// The binary prints the bootstrap servers as its first stdout line and stops cleanly on SIGTERM.
/// Starts the `kafkit-broker` binary with `args`; returns it and its first stdout line.
fn spawn_broker(args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafkit-broker"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("line");
    (child, first)
}

#[test]
fn binary_prints_bootstrap_first_and_stops_on_sigterm() {
    let (mut child, first) = spawn_broker(&["--listen", "127.0.0.1:0", "--brokers", "2"]);
    let addrs: Vec<&str> = first.trim().split(',').collect();
    assert_eq!(addrs.len(), 2, "{first:?}");
    for a in &addrs {
        std::net::TcpStream::connect(a).expect("listening");
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
}

/// `--config KEY=VALUE` takes Kafka's broker settings; a bad one stops the binary with a message
/// naming the key, before it listens.
#[test]
fn binary_rejects_a_bad_config_naming_the_key() {
    for (arg, key) in [
        ("max.connections=many", "max.connections"),
        ("no.such.setting=1", "no.such.setting"),
        ("message.max.bytes", "KEY=VALUE"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kafkit-broker"))
            .args(["--listen", "127.0.0.1:0", "--config", arg])
            .output()
            .expect("run");
        assert!(!out.status.success(), "{arg}");
        assert!(out.stdout.is_empty(), "{arg}: no bootstrap line");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{arg}: {stderr}");
    }
}

/// `max.connections`: connections past the limit are closed at once; closing one makes room.
#[tokio::test]
async fn max_connections_closes_connections_past_the_limit() {
    let cluster = Cluster::start(ClusterConfig {
        max_connections: 3,
        ..Default::default()
    })
    .await
    .expect("cluster");
    let addr = cluster.addrs()[0];
    let mut open = Vec::new();
    for i in 0..3 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&api_versions(3, i)).await.expect("write");
        read_frame(&mut s, &mut BytesMut::new())
            .await
            .expect("served within the limit");
        open.push(s);
    }
    let mut refused = TcpStream::connect(addr).await.expect("tcp connect");
    let _ = refused.write_all(&api_versions(3, 9)).await;
    assert!(
        read_frame(&mut refused, &mut BytesMut::new()).await.is_none(),
        "the fourth connection is closed"
    );
    drop(open.pop());
    // The freed permit returns once the broker sees the close; retry briefly.
    let mut served = false;
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let _ = s.write_all(&api_versions(3, 10)).await;
        if read_frame(&mut s, &mut BytesMut::new()).await.is_some() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served, "a connection is served again once one closed");
}

/// `socket.request.max.bytes`: a frame declaring more is refused by closing the connection
/// before its body is read; one at the limit is served.
#[tokio::test]
async fn socket_request_max_bytes_closes_larger_frames() {
    let limit = api_versions(3, 1).len() - 4;
    let cluster = Cluster::start(ClusterConfig {
        socket_request_max_bytes: limit,
        ..Default::default()
    })
    .await
    .expect("cluster");
    let mut s = TcpStream::connect(cluster.addrs()[0]).await.expect("connect");
    s.write_all(&api_versions(3, 1)).await.expect("write");
    read_frame(&mut s, &mut BytesMut::new())
        .await
        .expect("a frame at the limit is served");
    let mut big = BytesMut::new();
    big.put_u32(limit as u32 + 1);
    s.write_all(&big).await.expect("write");
    assert!(
        read_frame(&mut s, &mut BytesMut::new()).await.is_none(),
        "a frame over the limit closes the connection"
    );
}

/// A client that pipelines Fetches for megabytes and never reads blocks its connection on TCP
/// backpressure, but not the broker: shutdown still ends that connection and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_completes_while_a_client_never_reads() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
    use kafkit_producer::{Producer, ProducerConfig, ProducerRecord};

    let cluster = cluster().await;
    let config = ProducerConfig::builder(cluster.bootstrap_servers())
        .build()
        .expect("config");
    let producer = Producer::connect(config).await.expect("producer");
    let value = vec![b'x'; 10_000];
    let mut deliveries = Vec::new();
    for _ in 0..200 {
        let record = ProducerRecord::builder("big")
            .partition(0)
            .value(value.clone())
            .build();
        deliveries.push(producer.send(record).await.expect("accepted"));
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
    producer.close(Duration::from_secs(5)).await;

    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(i32::MAX)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("big")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(i32::MAX)])]);
    let mut pipelined = BytesMut::new();
    for i in 0..200 {
        let header = request_header(ApiKey::Fetch, 11, i, Some("never-reads"));
        encode_request_frame(&mut pipelined, &header, &fetch).expect("encode");
    }
    let mut s = TcpStream::connect(cluster.addrs()[0]).await.expect("connect");
    // 200 responses of 2 MB do not fit in the socket buffers: the broker's writes block.
    let _ = tokio::time::timeout(Duration::from_secs(1), s.write_all(&pipelined)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::time::timeout(Duration::from_secs(10), cluster.shutdown())
        .await
        .expect("shutdown is not held up by a client that does not read")
        .expect("clean shutdown");
    drop(s);
}

/// A free loopback port (bound and released; another process could take it in between, which
/// would fail the test loudly, not silently).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `kafkit-broker --config server.properties` with Kafka's listener and security keys: a
/// PLAINTEXT and a SASL_SSL listener, the latter advertised as `localhost`. kafkit's producer
/// authenticates with SCRAM-SHA-512 on one and plain on the other; each is told its own
/// listener's address in Metadata (the SASL_SSL client is sent to `localhost`, which only that
/// listener advertises).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_sasl_ssl_from_a_properties_file() {
    use kafkit_producer::{Producer, ProducerConfig, ProducerRecord};

    let dir = tempfile::tempdir().expect("dir");
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = rcgen::KeyPair::generate().expect("key");
    let server = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("server");
    let keystore = dir.path().join("broker.pem");
    std::fs::write(&keystore, format!("{}{}", key.serialize_pem(), server.pem())).expect("write");
    let (plain_port, secure_port) = (free_port(), free_port());
    let properties = dir.path().join("server.properties");
    std::fs::write(
        &properties,
        format!(
            "# Kafka's names\n\
             listeners=PLAINTEXT://127.0.0.1:{plain_port},CLIENT://127.0.0.1:{secure_port}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{plain_port},CLIENT://localhost:{secure_port}\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CLIENT:SASL_SSL\n\
             ssl.keystore.type=PEM\n\
             ssl.keystore.location={}\n\
             sasl.enabled.mechanisms=SCRAM-SHA-512\n\
             kafkit.scram.credentials=SCRAM-SHA-512=[name=alice,password=alice-secret]\n",
            keystore.display()
        ),
    )
    .expect("write");
    let (mut child, first) = spawn_broker(&["--config", properties.to_str().expect("utf-8")]);
    assert_eq!(first.trim(), format!("127.0.0.1:{plain_port}"));

    let secure = ProducerConfig::builder(format!("127.0.0.1:{secure_port}"))
        .set("security.protocol", "SASL_SSL")
        .set("ssl.truststore.certificates", &ca.pem())
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set(
            "sasl.jaas.config",
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";"#,
        )
        .set("max.block.ms", "10000")
        .build()
        .expect("config");
    let plain = ProducerConfig::builder(format!("127.0.0.1:{plain_port}"))
        .set("max.block.ms", "10000")
        .build()
        .expect("config");
    for (config, value) in [(secure, "over SASL_SSL"), (plain, "over PLAINTEXT")] {
        let producer = Producer::connect(config).await.expect("connected");
        let metadata = producer
            .send(
                ProducerRecord::builder("props")
                    .value(value.as_bytes().to_vec())
                    .build(),
            )
            .await
            .expect("accepted")
            .await
            .expect("delivered");
        assert_eq!(&*metadata.topic, "props");
        producer.close(Duration::from_secs(5)).await;
    }
    // The wrong password on the secure listener is refused, with Kafka's message.
    let wrong = ProducerConfig::builder(format!("127.0.0.1:{secure_port}"))
        .set("security.protocol", "SASL_SSL")
        .set("ssl.truststore.certificates", &ca.pem())
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", "alice")
        .set("sasl.password", "nope")
        .build()
        .expect("config");
    let err = Producer::connect(wrong).await.expect_err("refused");
    assert!(
        err.to_string()
            .contains("invalid credentials with SASL mechanism SCRAM-SHA-512"),
        "{err}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().expect("wait").success());
}
