//! Parsing Java properties (`key=value` strings) into a [`ProducerConfig`].
//!
//! Values follow Java's `ConfigDef` parsing: integers in decimal (surrounding whitespace
//! trimmed), booleans `true`/`false` in any case, durations in milliseconds, lists
//! comma-separated.

use std::time::Duration;

use super::{Acks, Compression, ProducerConfig};
use crate::error::{Error, Result};

/// Every key [`apply`] knows, for error messages.
pub(super) const KEYS: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "acks",
    "enable.idempotence",
    "linger.ms",
    "batch.size",
    "buffer.memory",
    "max.block.ms",
    "max.request.size",
    "max.in.flight.requests.per.connection",
    "retries",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "request.timeout.ms",
    "delivery.timeout.ms",
    "metadata.max.age.ms",
    "compression.type",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "partitioner.ignore.keys",
    "partitioner.adaptive.partitioning.enable",
    "partitioner.availability.timeout.ms",
];

/// Sets `key` from `value`; returns the key as a `'static` name.
pub(super) fn apply(c: &mut ProducerConfig, key: &str, value: &str) -> Result<&'static str> {
    let Some(&name) = KEYS.iter().find(|k| **k == key.trim()) else {
        return Err(Error::config(key, "unknown producer configuration key"));
    };
    let value = value.trim();
    match name {
        "bootstrap.servers" => c.bootstrap_servers = parse_servers(name, value)?,
        "client.id" => c.client_id = value.to_string(),
        "acks" => c.acks = parse_acks(name, value)?,
        "enable.idempotence" => c.enable_idempotence = parse_bool(name, value)?,
        "linger.ms" => c.linger = parse_millis(name, value)?,
        "batch.size" => c.batch_size = parse_int(name, value, 0)?,
        "buffer.memory" => c.buffer_memory = parse_int(name, value, 0)?,
        "max.block.ms" => c.max_block = parse_millis(name, value)?,
        "max.request.size" => c.max_request_size = parse_int(name, value, 0)?,
        "max.in.flight.requests.per.connection" => c.max_in_flight = parse_int(name, value, 1)?,
        "retries" => c.retries = parse_int(name, value, 0)? as u32,
        "retry.backoff.ms" => c.retry_backoff = parse_millis(name, value)?,
        "retry.backoff.max.ms" => c.retry_backoff_max = parse_millis(name, value)?,
        "request.timeout.ms" => c.request_timeout = parse_millis(name, value)?,
        "delivery.timeout.ms" => c.delivery_timeout = parse_millis(name, value)?,
        "metadata.max.age.ms" => c.metadata_max_age = parse_millis(name, value)?,
        "compression.type" => {
            c.compression = value
                .parse::<Compression>()
                .map_err(|e| Error::config(name, e.to_string()))?
        }
        "compression.gzip.level" => c.compression_gzip_level = parse_level(name, value)?,
        "compression.lz4.level" => c.compression_lz4_level = parse_level(name, value)?,
        "compression.zstd.level" => c.compression_zstd_level = parse_level(name, value)?,
        "reconnect.backoff.ms" => c.reconnect_backoff = parse_millis(name, value)?,
        "reconnect.backoff.max.ms" => c.reconnect_backoff_max = parse_millis(name, value)?,
        "partitioner.ignore.keys" => c.partitioner_ignore_keys = parse_bool(name, value)?,
        "partitioner.adaptive.partitioning.enable" => c.partitioner_adaptive = parse_bool(name, value)?,
        "partitioner.availability.timeout.ms" => {
            c.partitioner_availability_timeout = parse_millis(name, value)?
        }
        // Invariant: the match covers every entry of KEYS.
        _ => return Err(Error::config(name, "key known but not handled")),
    }
    Ok(name)
}

fn parse_servers(key: &str, value: &str) -> Result<Vec<(String, u16)>> {
    let mut servers = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or_else(|| Error::config(key, format!("`{entry}` is not host:port")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port
            .parse()
            .map_err(|_| Error::config(key, format!("`{entry}` has an invalid port")))?;
        if host.is_empty() {
            return Err(Error::config(key, format!("`{entry}` has no host")));
        }
        servers.push((host.to_string(), port));
    }
    if servers.is_empty() {
        return Err(Error::config(key, "no broker address given"));
    }
    Ok(servers)
}

fn parse_acks(key: &str, value: &str) -> Result<Acks> {
    match value.to_ascii_lowercase().as_str() {
        "all" | "-1" => Ok(Acks::All),
        "1" => Ok(Acks::Leader),
        "0" => Ok(Acks::None),
        _ => Err(Error::config(
            key,
            format!("expected all, -1, 0 or 1, got `{value}`"),
        )),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(Error::config(
            key,
            format!("expected true or false, got `{value}`"),
        ))
    }
}

/// An `int` config at least `min` (Java's `Range.atLeast`).
fn parse_int(key: &str, value: &str, min: i32) -> Result<usize> {
    let n: i32 = value
        .parse()
        .map_err(|_| Error::config(key, format!("expected an integer, got `{value}`")))?;
    if n < min {
        return Err(Error::config(key, format!("must be at least {min}, got {n}")));
    }
    Ok(n as usize)
}

/// A compression level: any `int` here; the range is checked with the codec's in `validate`.
fn parse_level(key: &str, value: &str) -> Result<i32> {
    value
        .parse()
        .map_err(|_| Error::config(key, format!("expected an integer, got `{value}`")))
}

/// A `long` milliseconds config at least 0.
fn parse_millis(key: &str, value: &str) -> Result<Duration> {
    let n: i64 = value
        .parse()
        .map_err(|_| Error::config(key, format!("expected milliseconds as an integer, got `{value}`")))?;
    u64::try_from(n)
        .map(Duration::from_millis)
        .map_err(|_| Error::config(key, format!("must be at least 0, got {n}")))
}
