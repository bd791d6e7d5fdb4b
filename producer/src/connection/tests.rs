//! A connection against a scripted broker on an in-memory stream, under tokio's paused clock.

use std::sync::Mutex;

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{MetadataResponse, ProduceRequest};
use kafkit_protocol::frame::{encode_frame, encode_response_frame};
use kafkit_protocol::versions::unsupported_api_versions_response;
use kafkit_protocol::{decode_request, RequestBody as Served};
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::connector::ConnectFuture;
use super::*;

/// Hands out the client end of a duplex stream whose server end the test drives.
#[derive(Debug, Default)]
struct Pipe {
    server: Mutex<Option<DuplexStream>>,
}

impl Connector for Pipe {
    fn connect<'a>(&'a self, _host: &'a str, _port: u16) -> ConnectFuture<'a> {
        let (client, server) = tokio::io::duplex(1 << 20);
        *self.server.lock().expect("lock") = Some(server);
        Box::pin(async move { Ok(Box::new(client) as BoxTransport) })
    }
}

/// The server end: reads requests, writes raw response frames.
struct Server {
    stream: DuplexStream,
    buf: BytesMut,
}

impl Server {
    async fn request(&mut self) -> kafkit_protocol::Request {
        let frame = read_frame(&mut self.stream, &mut self.buf, 1 << 20)
            .await
            .expect("a request");
        decode_request(frame).expect("decodes")
    }

    async fn write(&mut self, payload: &[u8]) {
        let mut out = BytesMut::new();
        encode_frame(&mut out, payload).expect("frame");
        self.stream.write_all(&out).await.expect("write");
    }

    async fn respond<T: kafka_protocol::protocol::Encodable + kafka_protocol::protocol::HeaderVersion>(
        &mut self,
        request: &kafkit_protocol::Request,
        body: &T,
    ) {
        let mut out = BytesMut::new();
        let (id, version) = (request.header.correlation_id, request.header.request_api_version);
        encode_response_frame(&mut out, id, version, body).expect("frame");
        self.stream.write_all(&out).await.expect("write");
    }

    /// Answers an ApiVersions request at its version with Produce 3-7, Metadata 0-9, no
    /// InitProducerId.
    async fn api_versions(&mut self) -> i16 {
        let request = self.request().await;
        assert!(matches!(request.body, Served::ApiVersions(_)));
        let entry = |key: ApiKey, min, max| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        };
        let body = ApiVersionsResponse::default().with_api_keys(vec![
            entry(ApiKey::Produce, 3, 7),
            entry(ApiKey::Metadata, 0, 9),
            entry(ApiKey::ApiVersions, 0, 2),
        ]);
        self.respond(&request, &body).await;
        request.header.request_api_version
    }
}

fn start(timeout: Duration) -> (ConnectionHandle, Arc<Pipe>, mpsc::UnboundedReceiver<ConnEvent>) {
    let pipe = Arc::new(Pipe::default());
    let params = Arc::new(ConnectionParams::new("test".into(), timeout, pipe.clone()));
    let (tx, rx) = mpsc::unbounded_channel();
    (spawn(7, "broker".into(), 9092, params, tx), pipe, rx)
}

async fn server(pipe: &Pipe) -> Server {
    for _ in 0..100 {
        if let Some(stream) = pipe.server.lock().expect("lock").take() {
            return Server {
                stream,
                buf: BytesMut::new(),
            };
        }
        tokio::task::yield_now().await;
    }
    panic!("the connection never connected");
}

async fn ready(rx: &mut mpsc::UnboundedReceiver<ConnEvent>) -> ApiVersions {
    match rx.recv().await {
        Some(ConnEvent::Ready { conn: 7, versions }) => versions,
        other => panic!("expected Ready, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn kip511_reply_makes_the_client_retry_at_the_advertised_version() {
    let (_handle, pipe, mut rx) = start(Duration::from_secs(30));
    let mut server = server(&pipe).await;
    let first = server.request().await;
    assert_eq!(first.header.request_api_version, 3);
    // Kafka's answer to a version it does not serve: v0 body, error 35, ApiVersions 0..=4
    // (the client asked 3, so it retries at min(3 - 1, 4) = 2).
    server
        .write(&unsupported_api_versions_response(first.header.correlation_id))
        .await;
    assert_eq!(server.api_versions().await, 2);
    let versions = ready(&mut rx).await;
    assert_eq!(
        versions,
        ApiVersions {
            produce: 7,
            metadata: 9,
            init_producer_id: None,
            txn: Default::default(),
            sasl: None,
        }
    );
}

#[tokio::test(start_paused = true)]
async fn an_undecodable_unsupported_version_reply_falls_back_to_v0() {
    let (_handle, pipe, mut rx) = start(Duration::from_secs(30));
    let mut server = server(&pipe).await;
    let first = server.request().await;
    // librdkafka's mock: error 35 and a body that is not a v0 one.
    let mut reply = first.header.correlation_id.to_be_bytes().to_vec();
    reply.extend_from_slice(&[0, 35, 1, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0]);
    server.write(&reply).await;
    assert_eq!(server.api_versions().await, 0);
    ready(&mut rx).await;
}

#[tokio::test(start_paused = true)]
async fn pipelined_requests_are_answered_in_order_and_acks0_needs_no_response() {
    let (handle, pipe, mut rx) = start(Duration::from_secs(30));
    let mut server = server(&pipe).await;
    server.api_versions().await;
    ready(&mut rx).await;
    for id in 1..=3 {
        handle
            .send(id, RequestBody::Metadata(MetadataRequest::default()))
            .expect("queued");
    }
    handle
        .send(
            4,
            RequestBody::Produce(ProduceRequest::default().with_acks(0), false),
        )
        .expect("queued");
    let mut requests = Vec::new();
    for _ in 0..4 {
        requests.push(server.request().await);
    }
    match rx.recv().await {
        Some(ConnEvent::Response {
            id: 4,
            body: ResponseBody::Written,
            ..
        }) => {}
        other => panic!("acks=0 is answered by the write: {other:?}"),
    }
    for request in &requests[..3] {
        server.respond(request, &MetadataResponse::default()).await;
    }
    for expected in 1..=3 {
        match rx.recv().await {
            Some(ConnEvent::Response {
                id,
                body: ResponseBody::Metadata(_),
                ..
            }) => assert_eq!(id, expected),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_request_times_out_and_closes_the_connection() {
    let (handle, pipe, mut rx) = start(Duration::from_millis(500));
    let mut server = server(&pipe).await;
    server.api_versions().await;
    ready(&mut rx).await;
    handle
        .send(1, RequestBody::Metadata(MetadataRequest::default()))
        .expect("queued");
    let _ignored = server.request().await;
    let start = Instant::now();
    match rx.recv().await {
        Some(ConnEvent::Closed {
            conn: 7,
            error: ConnectionError::Timeout,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn a_response_with_the_wrong_correlation_id_closes_the_connection() {
    let (handle, pipe, mut rx) = start(Duration::from_secs(30));
    let mut server = server(&pipe).await;
    server.api_versions().await;
    ready(&mut rx).await;
    handle
        .send(1, RequestBody::Metadata(MetadataRequest::default()))
        .expect("queued");
    let request = server.request().await;
    let mut out = BytesMut::new();
    let version = request.header.request_api_version;
    encode_response_frame(
        &mut out,
        request.header.correlation_id + 1,
        version,
        &MetadataResponse::default(),
    )
    .expect("frame");
    server.stream.write_all(&out).await.expect("write");
    assert!(matches!(
        rx.recv().await,
        Some(ConnEvent::Closed {
            error: ConnectionError::Protocol(_),
            ..
        })
    ));
}
