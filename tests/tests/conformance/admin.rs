//! CreateTopics, DeleteTopics, CreatePartitions, InitProducerId, ApiVersions and
//! FindCoordinator.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreatePartitionsRequest, CreateTopicsRequest,
    CreateTopicsResponse, DeleteTopicsRequest, FindCoordinatorRequest, InitProducerIdRequest,
    TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use kafkit_protocol::ErrorCode;

use crate::harness::{api_versions_request, topic_name, Case, CaseResult, Ctx};

pub fn cases() -> Vec<Case> {
    crate::cases![
        create_topic,
        create_topic_that_exists,
        create_topic_invalid_name,
        create_topic_zero_partitions,
        create_topic_validate_only,
        create_topic_replication_factor_above_brokers,
        create_topic_named_twice,
        create_topic_invalid_config,
        create_topic_default_partitions,
        delete_topic,
        delete_unknown_topic,
        delete_unknown_topic_id,
        create_partitions_grow,
        create_partitions_not_larger,
        create_partitions_unknown_topic,
        create_partitions_validate_only,
        init_producer_id_idempotent,
        init_producer_id_transactional,
        init_producer_id_half_given,
        api_versions_negotiated,
        api_versions_unknown_version,
        api_versions_invalid_client_software_name,
        find_coordinator_group,
        find_coordinator_transaction,
        find_coordinator_share_group,
    ]
}

fn see_create(ctx: &mut Ctx<'_>, prefix: &str, version: i16, response: &CreateTopicsResponse) {
    ctx.see(format!("{prefix}.throttle_time_ms"), response.throttle_time_ms);
    for (i, t) in response.topics.iter().enumerate() {
        let at = format!("{prefix}.{i}");
        ctx.see(format!("{at}.name"), t.name.0.as_str());
        ctx.code(format!("{at}.error"), t.error_code);
        ctx.text(format!("{at}.error_message"), t.error_message.as_deref());
        if version >= 5 {
            ctx.see(format!("{at}.num_partitions"), t.num_partitions);
            ctx.see(format!("{at}.replication_factor"), t.replication_factor);
            ctx.code(format!("{at}.topic_config_error_code"), t.topic_config_error_code);
            ctx.see(
                format!("{at}.configs"),
                t.configs
                    .as_ref()
                    .map_or("null".to_string(), |c| format!("{} entries", c.len())),
            );
        }
        if version >= 7 {
            ctx.see(format!("{at}.topic_id.set"), !t.topic_id.is_nil());
        }
    }
}

async fn create(
    ctx: &mut Ctx<'_>,
    prefix: &str,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> CaseResult {
    let version = ctx.version(ApiKey::CreateTopics);
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only)
        .with_topics(topics);
    let response = ctx.client().await?.send(version, &request).await?;
    see_create(ctx, prefix, version, &response);
    Ok(())
}

fn creatable(name: &str, partitions: i32, replication: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(replication)
}

async fn create_topic(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.topic_name("t");
    create(ctx, "create", vec![creatable(&name, 3, 1)], false).await
}

async fn create_topic_that_exists(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.create_topic("t", 1, &[]).await?;
    create(ctx, "create", vec![creatable(&name, 1, 1)], false).await
}

async fn create_topic_invalid_name(ctx: &mut Ctx<'_>) -> CaseResult {
    create(ctx, "slash", vec![creatable("bad/name", 1, 1)], false).await?;
    create(ctx, "dots", vec![creatable("..", 1, 1)], false).await
}

async fn create_topic_zero_partitions(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.topic_name("t");
    create(ctx, "create", vec![creatable(&name, 0, 1)], false).await
}

/// validate_only: answered as if created, and nothing is created.
async fn create_topic_validate_only(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.topic_name("t");
    create(ctx, "validate", vec![creatable(&name, 2, 1)], true).await?;
    create(ctx, "create", vec![creatable(&name, 2, 1)], false).await
}

async fn create_topic_replication_factor_above_brokers(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.topic_name("t");
    create(ctx, "create", vec![creatable(&name, 1, 3)], false).await
}

async fn create_topic_named_twice(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.topic_name("t");
    create(
        ctx,
        "create",
        vec![creatable(&name, 1, 1), creatable(&name, 2, 1)],
        false,
    )
    .await
}

async fn create_topic_invalid_config(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.topic_name("t");
    let topic = creatable(&name, 1, 1).with_configs(vec![
        kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("message.timestamp.type"))
            .with_value(Some(StrBytes::from_static_str("Sometimes"))),
    ]);
    create(ctx, "create", vec![topic], false).await
}

/// num_partitions and replication_factor -1: the broker's defaults.
async fn create_topic_default_partitions(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.topic_name("t");
    create(ctx, "create", vec![creatable(&name, -1, -1)], false).await
}

async fn delete(ctx: &mut Ctx<'_>, prefix: &str, state: DeleteTopicState) -> CaseResult {
    let version = ctx.version(ApiKey::DeleteTopics);
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topic_names(state.name.clone().into_iter().collect())
        .with_topics(vec![state]);
    let response = ctx.client().await?.send(version, &request).await?;
    ctx.see(format!("{prefix}.throttle_time_ms"), response.throttle_time_ms);
    for (i, r) in response.responses.iter().enumerate() {
        let at = format!("{prefix}.{i}");
        ctx.see(
            format!("{at}.name"),
            format!("{:?}", r.name.as_ref().map(|n| n.0.as_str())),
        );
        ctx.see(format!("{at}.topic_id.set"), !r.topic_id.is_nil());
        ctx.code(format!("{at}.error"), r.error_code);
        ctx.text(format!("{at}.error_message"), r.error_message.as_deref());
    }
    Ok(())
}

async fn delete_topic(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.create_topic("t", 1, &[]).await?;
    delete(
        ctx,
        "delete",
        DeleteTopicState::default().with_name(Some(topic_name(&name))),
    )
    .await?;
    let version = ctx.version(ApiKey::Metadata);
    let request = kafka_protocol::messages::MetadataRequest::default()
        .with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(topic_name(&name))),
        ]))
        .with_allow_auto_topic_creation(false);
    // Deletion completes in the background on Kafka: wait until the topic is gone.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let response = ctx.client().await?.send(version, &request).await?;
        let code = response.topics.first().map_or(0, |t| t.error_code);
        if code != 0 || tokio::time::Instant::now() >= deadline {
            ctx.code("after.error", code);
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn delete_unknown_topic(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.topic_name("missing");
    delete(
        ctx,
        "delete",
        DeleteTopicState::default().with_name(Some(topic_name(&name))),
    )
    .await
}

async fn delete_unknown_topic_id(ctx: &mut Ctx<'_>) -> CaseResult {
    let id = Uuid::from_u128(0x6b61_666b_6974_0000_0000_0000_0000_0001);
    delete(ctx, "delete", DeleteTopicState::default().with_topic_id(id)).await
}

async fn create_partitions(
    ctx: &mut Ctx<'_>,
    prefix: &str,
    name: &str,
    count: i32,
    validate_only: bool,
) -> CaseResult {
    let version = ctx.version(ApiKey::CreatePartitions);
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(name))
            .with_count(count)
            .with_assignments(None)]);
    let response = ctx.client().await?.send(version, &request).await?;
    ctx.see(format!("{prefix}.throttle_time_ms"), response.throttle_time_ms);
    for (i, r) in response.results.iter().enumerate() {
        let at = format!("{prefix}.{i}");
        ctx.see(format!("{at}.name"), r.name.0.as_str());
        ctx.code(format!("{at}.error"), r.error_code);
        ctx.text(format!("{at}.error_message"), r.error_message.as_deref());
    }
    Ok(())
}

async fn create_partitions_grow(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.create_topic("t", 1, &[]).await?;
    create_partitions(ctx, "grow", &name, 3, false).await?;
    ctx.wait_until_served(&name, 3).await
}

async fn create_partitions_not_larger(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.create_topic("t", 2, &[]).await?;
    create_partitions(ctx, "same", &name, 2, false).await?;
    create_partitions(ctx, "smaller", &name, 1, false).await
}

async fn create_partitions_unknown_topic(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.topic_name("missing");
    create_partitions(ctx, "grow", &name, 3, false).await
}

async fn create_partitions_validate_only(ctx: &mut Ctx<'_>) -> CaseResult {
    let name = ctx.create_topic("t", 1, &[]).await?;
    create_partitions(ctx, "validate", &name, 4, true).await?;
    create_partitions(ctx, "again", &name, 4, true).await
}

async fn init_producer_id(ctx: &mut Ctx<'_>, prefix: &str, request: InitProducerIdRequest) -> CaseResult {
    let version = ctx.version(ApiKey::InitProducerId);
    // A transactional id is answered NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS) while
    // Kafka creates `__transaction_state`; what a client ends up with is the answer after that
    // (tried for 5 s).
    let mut tries = 0;
    let response = loop {
        let response = ctx.client().await?.send(version, &request).await?;
        let waiting = [
            ErrorCode::NotCoordinator,
            ErrorCode::CoordinatorLoadInProgress,
            ErrorCode::CoordinatorNotAvailable,
        ]
        .iter()
        .any(|c| c.code() == response.error_code);
        tries += 1;
        if !waiting || tries == 20 {
            break response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    ctx.see(format!("{prefix}.throttle_time_ms"), response.throttle_time_ms);
    ctx.code(format!("{prefix}.error"), response.error_code);
    let id = response.producer_id.0;
    ctx.see(
        format!("{prefix}.producer_id"),
        if id >= 0 {
            "set".to_string()
        } else {
            id.to_string()
        },
    );
    ctx.see(format!("{prefix}.producer_epoch"), response.producer_epoch);
    Ok(())
}

fn init_request() -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1)
}

/// Two idempotent producers get two different ids, epoch 0.
async fn init_producer_id_idempotent(ctx: &mut Ctx<'_>) -> CaseResult {
    init_producer_id(ctx, "first", init_request()).await?;
    init_producer_id(ctx, "second", init_request()).await
}

/// As a client does it: FindCoordinator for the transactional id first (which makes Kafka
/// create `__transaction_state`), then InitProducerId.
async fn init_producer_id_transactional(ctx: &mut Ctx<'_>) -> CaseResult {
    let id = ctx.topic_name("txn");
    locate_coordinator(ctx, 1, id.clone()).await?;
    let request = init_request().with_transactional_id(Some(TransactionalId(StrBytes::from_string(id))));
    init_producer_id(ctx, "init", request).await
}

/// A producer id without an epoch: INVALID_REQUEST.
async fn init_producer_id_half_given(ctx: &mut Ctx<'_>) -> CaseResult {
    init_producer_id(ctx, "init", init_request().with_producer_id(5.into())).await
}

/// For each API a client of Kafka 4.1 uses, the version it would negotiate (the highest in
/// both its range and the broker's), or `not served`.
async fn api_versions_negotiated(ctx: &mut Ctx<'_>) -> CaseResult {
    let response = ctx.client().await?.send(3, &api_versions_request()).await?;
    ctx.code("error", response.error_code);
    ctx.see("throttle_time_ms", response.throttle_time_ms);
    for (api, client_min, client_max) in crate::CLIENT_APIS {
        let served = response.api_keys.iter().find(|k| k.api_key == *api as i16);
        let negotiated = served.and_then(|k| {
            let v = k.max_version.min(*client_max);
            (v >= k.min_version.max(*client_min)).then_some(v)
        });
        ctx.see(
            format!("{api:?}"),
            negotiated.map_or_else(|| "not served".to_string(), |v| v.to_string()),
        );
    }
    Ok(())
}

/// ApiVersions at version 127 (a client newer than the broker): UNSUPPORTED_VERSION in a v0 body
/// listing ApiVersions' range (KIP-511). Written by hand: the crate encodes no such version.
async fn api_versions_unknown_version(ctx: &mut Ctx<'_>) -> CaseResult {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&ctx.peer.addr).await?;
    // Header v2: key 18, version 127, correlation id 7, client id "c", no tags; empty body.
    let request: &[u8] = &[0, 18, 0, 127, 0, 0, 0, 7, 0, 1, b'c', 0, 0];
    let mut frame = (request.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(request);
    stream.write_all(&frame).await?;
    let len = stream.read_i32().await?;
    let mut body = vec![0; usize::try_from(len)?];
    stream.read_exact(&mut body).await?;
    // Response header v0 (the correlation id), then an ApiVersions v0 body.
    ctx.see("correlation_id", i32::from_be_bytes(body[..4].try_into()?));
    let response = kafkit_protocol::response::decode_response_body::<ApiVersionsResponse>(
        bytes::Bytes::from(body[4..].to_vec()),
        0,
    )?;
    ctx.code("error", response.error_code);
    let own = response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions as i16);
    ctx.see(
        "api_versions_range",
        own.map_or("absent".to_string(), |k| {
            format!("{}..={}", k.min_version, k.max_version)
        }),
    );
    ctx.see("api_keys", response.api_keys.len());
    Ok(())
}

/// ApiVersions v3 with an empty client software name and version: INVALID_REQUEST (KIP-511's
/// pattern), and no API listed.
async fn api_versions_invalid_client_software_name(ctx: &mut Ctx<'_>) -> CaseResult {
    let mut client = ctx.new_client().await?;
    for (label, name, version) in [
        ("empty", "", ""),
        ("space", "my client", "1.0"),
        ("dash_end", "client-", "1"),
    ] {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(name))
            .with_client_software_version(StrBytes::from_static_str(version));
        let response = client.send(3, &request).await?;
        ctx.code(format!("{label}.error"), response.error_code);
        ctx.see(format!("{label}.api_keys"), response.api_keys.len());
    }
    Ok(())
}

/// FindCoordinator for `key_type` (0 group, 1 transaction, 2 share group), batched (v4+), and
/// what it answered.
async fn find_coordinator(ctx: &mut Ctx<'_>, key_type: i8, key: String) -> CaseResult {
    let response = locate_coordinator(ctx, key_type, key).await?;
    ctx.see("throttle_time_ms", response.throttle_time_ms);
    for (i, c) in response.coordinators.iter().enumerate() {
        ctx.code(format!("{i}.error"), c.error_code);
        ctx.text(format!("{i}.error_message"), c.error_message.as_deref());
        ctx.node(format!("{i}.node_id"), c.node_id.0);
    }
    Ok(())
}

/// FindCoordinator for one key, asked again while the answer is COORDINATOR_NOT_AVAILABLE.
pub(crate) async fn locate_coordinator(
    ctx: &mut Ctx<'_>,
    key_type: i8,
    key: String,
) -> Result<kafka_protocol::messages::FindCoordinatorResponse, crate::harness::BoxError> {
    let version = ctx.version(ApiKey::FindCoordinator);
    let request = FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_coordinator_keys(vec![StrBytes::from_string(key)]);
    // Kafka answers COORDINATOR_NOT_AVAILABLE while it creates its internal topic; what a
    // client ends up with is the answer once that is done (tried for 5 s).
    let mut tries = 0;
    let response = loop {
        let response = ctx.client().await?.send(version, &request).await?;
        let waiting = response
            .coordinators
            .iter()
            .any(|c| c.error_code == ErrorCode::CoordinatorNotAvailable.code());
        tries += 1;
        if !waiting || tries == 20 {
            break response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    Ok(response)
}

async fn find_coordinator_group(ctx: &mut Ctx<'_>) -> CaseResult {
    let group = ctx.topic_name("group");
    find_coordinator(ctx, 0, group).await
}

async fn find_coordinator_transaction(ctx: &mut Ctx<'_>) -> CaseResult {
    let id = ctx.topic_name("txn");
    find_coordinator(ctx, 1, id).await
}

/// Share groups (key type 2, v6): a key is `group:topic id:partition`.
async fn find_coordinator_share_group(ctx: &mut Ctx<'_>) -> CaseResult {
    let key = "share-group:AAAAAAAAAAAAAAAAAAAAAA:0".to_string();
    find_coordinator(ctx, 2, key).await
}
