//! Parsing Java properties (`key=value` strings) into a [`ProducerConfig`].
//!
//! Values follow Java's `ConfigDef` parsing: integers in decimal (surrounding whitespace
//! trimmed), booleans `true`/`false` in any case, durations in milliseconds, lists
//! comma-separated.

use std::time::Duration;

use super::{Acks, Compression, ProducerConfig};
use crate::error::{Error, Result};

/// How a key sets the config from its (trimmed) value; the key is passed for error messages.
type Setter = fn(&mut ProducerConfig, &'static str, &str) -> Result<()>;

/// Every key [`apply`] knows, with its parser. Adding a key: a row here, the field with its
/// `Debug` entry and its builder setter in `config.rs`, a row in the key table of
/// `config/tests.rs` (which fails until all four agree).
pub(super) const SETTERS: &[(&str, Setter)] = &[
    ("bootstrap.servers", |c, k, v| {
        c.bootstrap_servers = parse_servers(k, v)?;
        Ok(())
    }),
    ("client.id", |c, _, v| {
        c.client_id = v.to_string();
        Ok(())
    }),
    ("acks", |c, k, v| {
        c.acks = parse_acks(k, v)?;
        Ok(())
    }),
    ("enable.idempotence", |c, k, v| {
        c.enable_idempotence = parse_bool(k, v)?;
        Ok(())
    }),
    ("linger.ms", |c, k, v| {
        c.linger = parse_millis(k, v)?;
        Ok(())
    }),
    ("batch.size", |c, k, v| {
        c.batch_size = parse_int(k, v, 0)?;
        Ok(())
    }),
    ("buffer.memory", |c, k, v| {
        c.buffer_memory = parse_int(k, v, 0)?;
        Ok(())
    }),
    ("max.block.ms", |c, k, v| {
        c.max_block = parse_millis(k, v)?;
        Ok(())
    }),
    ("max.request.size", |c, k, v| {
        c.max_request_size = parse_int(k, v, 0)?;
        Ok(())
    }),
    ("max.in.flight.requests.per.connection", |c, k, v| {
        c.max_in_flight = parse_int(k, v, 1)?;
        Ok(())
    }),
    ("retries", |c, k, v| {
        // `parse_int` returns a non-negative `i32`, which fits.
        c.retries = parse_int(k, v, 0)? as u32;
        Ok(())
    }),
    ("retry.backoff.ms", |c, k, v| {
        c.retry_backoff = parse_millis(k, v)?;
        Ok(())
    }),
    ("retry.backoff.max.ms", |c, k, v| {
        c.retry_backoff_max = parse_millis(k, v)?;
        Ok(())
    }),
    ("request.timeout.ms", |c, k, v| {
        c.request_timeout = parse_millis(k, v)?;
        Ok(())
    }),
    ("delivery.timeout.ms", |c, k, v| {
        c.delivery_timeout = parse_millis(k, v)?;
        Ok(())
    }),
    ("metadata.max.age.ms", |c, k, v| {
        c.metadata_max_age = parse_millis(k, v)?;
        Ok(())
    }),
    ("compression.type", |c, k, v| {
        c.compression = v
            .parse::<Compression>()
            .map_err(|e| Error::config(k, e.to_string()))?;
        Ok(())
    }),
    ("compression.gzip.level", |c, k, v| {
        c.compression_gzip_level = parse_level(k, v)?;
        Ok(())
    }),
    ("compression.lz4.level", |c, k, v| {
        c.compression_lz4_level = parse_level(k, v)?;
        Ok(())
    }),
    ("compression.zstd.level", |c, k, v| {
        c.compression_zstd_level = parse_level(k, v)?;
        Ok(())
    }),
    ("reconnect.backoff.ms", |c, k, v| {
        c.reconnect_backoff = parse_millis(k, v)?;
        Ok(())
    }),
    ("reconnect.backoff.max.ms", |c, k, v| {
        c.reconnect_backoff_max = parse_millis(k, v)?;
        Ok(())
    }),
    ("partitioner.ignore.keys", |c, k, v| {
        c.partitioner_ignore_keys = parse_bool(k, v)?;
        Ok(())
    }),
    ("partitioner.adaptive.partitioning.enable", |c, k, v| {
        c.partitioner_adaptive = parse_bool(k, v)?;
        Ok(())
    }),
    ("partitioner.availability.timeout.ms", |c, k, v| {
        c.partitioner_availability_timeout = parse_millis(k, v)?;
        Ok(())
    }),
    ("transactional.id", |c, _, v| {
        // Java's default is null; an empty value means "not transactional" there too.
        c.transactional_id = (!v.is_empty()).then(|| v.to_string());
        Ok(())
    }),
    ("transaction.timeout.ms", |c, k, v| {
        c.transaction_timeout = parse_millis(k, v)?;
        Ok(())
    }),
];

/// Every key [`apply`] knows.
#[cfg(test)]
pub(super) fn keys() -> impl Iterator<Item = &'static str> {
    SETTERS.iter().map(|(key, _)| *key)
}

/// Sets `key` from `value`; returns the key as a `'static` name.
pub(super) fn apply(c: &mut ProducerConfig, key: &str, value: &str) -> Result<&'static str> {
    let Some(&(name, set)) = SETTERS.iter().find(|(k, _)| *k == key.trim()) else {
        // The security keys keep PEM text and secrets as given (a PEM value is multi-line).
        if let Some(name) = crate::security::apply(&mut c.security, key.trim(), value.trim())? {
            return Ok(name);
        }
        return Err(Error::config(key, "unknown producer configuration key"));
    };
    set(c, name, value.trim())?;
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
