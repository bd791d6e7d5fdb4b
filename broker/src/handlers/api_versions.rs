//! ApiVersions (ApiKey 18), versions 0..=4.
//!
//! # Behaviour
//! Answers the ranges of [`kafkit_protocol::versions::SUPPORTED_APIS`] as narrowed by the
//! cluster's version pins ([`pin_api_versions`], leaving out an API pinned away), error NONE.
//! A request of a version kafkit does not serve (or that a pin excludes) never reaches this
//! handler: the connection layer answers it with the KIP-511 v0 reply. No features are
//! advertised (v3+ tagged fields stay empty).
//! A v3+ `client_software_name`/`client_software_version` that breaks Kafka's pattern
//! (`[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`) gets INVALID_REQUEST and no API list, as in
//! Kafka.
//!
//! # Version notes
//! v1 adds `throttle_time_ms`; v3 is flexible (the response header stays v0 in every version).
//!
//! [`pin_api_versions`]: crate::cluster::ClusterState::pin_api_versions

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafkit_protocol::ErrorCode;

use super::HandlerContext;

/// Handles an ApiVersions request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: ApiVersionsRequest) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    if version >= 3
        && !(valid_software_field(&request.client_software_name)
            && valid_software_field(&request.client_software_version))
    {
        // Kafka's error answer lists no API.
        response.error_code = ErrorCode::InvalidRequest.code();
        return response;
    }
    response.api_keys = ctx
        .state
        .api_version_ranges()
        .iter()
        .map(|r| {
            ApiVersion::default()
                .with_api_key(r.api_key as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect();
    response
}

/// Kafka's check of the v3 client software fields.
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.';
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("librdkafka", true)]
    #[case("apache-kafka-java", true)]
    #[case("2.12.1", true)]
    #[case("", false)]
    #[case("-x", false)]
    #[case("x y", false)]
    fn software_fields(#[case] s: &str, #[case] ok: bool) {
        assert_eq!(valid_software_field(s), ok);
    }
}
