//! Metadata at every version both peers serve, and auto-creation.

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};

use crate::harness::{topic_name, Case, CaseResult, Ctx};

pub fn cases() -> Vec<Case> {
    crate::cases![
        metadata_v0,
        metadata_v1,
        metadata_v2,
        metadata_v3,
        metadata_v4,
        metadata_v5,
        metadata_v6,
        metadata_v7,
        metadata_v8,
        metadata_v9,
        metadata_v10,
        metadata_v11,
        metadata_v12,
        metadata_v13,
        metadata_auto_create,
        metadata_no_auto_create,
        metadata_invalid_topic_name,
        metadata_brokers_only,
    ]
}

/// Records the response fields the version carries, for the topics asked for.
fn see_metadata(ctx: &mut Ctx<'_>, prefix: &str, version: i16, response: &MetadataResponse) {
    ctx.see(format!("{prefix}.throttle_time_ms"), response.throttle_time_ms);
    ctx.see(format!("{prefix}.brokers"), response.brokers.len());
    for b in &response.brokers {
        ctx.node(format!("{prefix}.broker.id"), b.node_id.0);
        ctx.see(
            format!("{prefix}.broker.rack"),
            format!("{:?}", b.rack.as_ref().map(|r| r.as_str())),
        );
    }
    if version >= 2 {
        ctx.see(format!("{prefix}.cluster_id.set"), response.cluster_id.is_some());
    }
    if version >= 1 {
        ctx.node(format!("{prefix}.controller_id"), response.controller_id.0);
    }
    if (8..=10).contains(&version) {
        ctx.see(
            format!("{prefix}.cluster_authorized_operations"),
            response.cluster_authorized_operations,
        );
    }
    if version >= 13 {
        ctx.code(format!("{prefix}.error"), response.error_code);
    }
    for t in &response.topics {
        let name = t.name.as_ref().map_or("null", |n| n.0.as_str());
        let at = format!("{prefix}.topic[{name}]");
        ctx.code(format!("{at}.error"), t.error_code);
        if version >= 1 {
            ctx.see(format!("{at}.is_internal"), t.is_internal);
        }
        if version >= 10 {
            ctx.see(format!("{at}.topic_id.set"), !t.topic_id.is_nil());
        }
        if version >= 8 {
            ctx.see(
                format!("{at}.topic_authorized_operations"),
                t.topic_authorized_operations,
            );
        }
        ctx.see(format!("{at}.partitions"), t.partitions.len());
        for p in &t.partitions {
            let pat = format!("{at}.p{}", p.partition_index);
            ctx.code(format!("{pat}.error"), p.error_code);
            ctx.node(format!("{pat}.leader"), p.leader_id.0);
            if version >= 7 {
                ctx.see(format!("{pat}.leader_epoch"), p.leader_epoch);
            }
            ctx.see(format!("{pat}.replicas"), p.replica_nodes.len());
            ctx.see(format!("{pat}.isr"), p.isr_nodes.len());
            if version >= 5 {
                ctx.see(format!("{pat}.offline_replicas"), p.offline_replicas.len());
            }
        }
    }
}

async fn metadata(
    ctx: &mut Ctx<'_>,
    prefix: &str,
    version: i16,
    topics: Option<&[&str]>,
    auto_create: bool,
) -> CaseResult {
    let mut request = MetadataRequest::default().with_topics(topics.map(|ts| {
        ts.iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
            .collect()
    }));
    // Before v4 there is no flag: a named topic is always auto-created.
    if version >= 4 {
        request = request.with_allow_auto_topic_creation(auto_create);
    }
    let response = ctx.client().await?.send(version, &request).await?;
    see_metadata(ctx, prefix, version, &response);
    Ok(())
}

/// A two-partition topic described at `version`.
async fn at_version(ctx: &mut Ctx<'_>, version: i16) -> CaseResult {
    let topic = ctx.create_topic("t", 2, &[]).await?;
    metadata(ctx, "metadata", version, Some(&[&topic]), false).await
}

async fn metadata_v0(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 0).await
}
async fn metadata_v1(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 1).await
}
async fn metadata_v2(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 2).await
}
async fn metadata_v3(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 3).await
}
async fn metadata_v4(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 4).await
}
async fn metadata_v5(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 5).await
}
async fn metadata_v6(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 6).await
}
async fn metadata_v7(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 7).await
}
async fn metadata_v8(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 8).await
}
async fn metadata_v9(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 9).await
}
async fn metadata_v10(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 10).await
}
async fn metadata_v11(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 11).await
}
async fn metadata_v12(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 12).await
}
async fn metadata_v13(ctx: &mut Ctx<'_>) -> CaseResult {
    at_version(ctx, 13).await
}

/// A topic that does not exist, allow_auto_topic_creation true: created with the broker's
/// num.partitions; asked again once it is served.
async fn metadata_auto_create(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.topic_name("auto");
    let version = ctx.version(ApiKey::Metadata);
    metadata(ctx, "first", version, Some(&[&topic]), true).await?;
    ctx.wait_until_served(&topic, 1).await?;
    metadata(ctx, "served", version, Some(&[&topic]), true).await
}

async fn metadata_no_auto_create(ctx: &mut Ctx<'_>) -> CaseResult {
    let topic = ctx.topic_name("missing");
    let version = ctx.version(ApiKey::Metadata);
    metadata(ctx, "metadata", version, Some(&[&topic]), false).await
}

async fn metadata_invalid_topic_name(ctx: &mut Ctx<'_>) -> CaseResult {
    let version = ctx.version(ApiKey::Metadata);
    metadata(ctx, "metadata", version, Some(&["bad/name"]), true).await?;
    metadata(ctx, "too_long", version, Some(&[&"x".repeat(250)]), true).await
}

/// An empty topic list: brokers and the controller only.
async fn metadata_brokers_only(ctx: &mut Ctx<'_>) -> CaseResult {
    let version = ctx.version(ApiKey::Metadata);
    metadata(ctx, "metadata", version, Some(&[]), false).await
}
