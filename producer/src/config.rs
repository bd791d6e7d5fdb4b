//! [`ProducerConfig`]: Java's producer configuration keys, Java 4.x defaults, Java's validation.
//!
//! A config is built in code ([`ProducerConfig::builder`]) or from Java-style properties
//! ([`ProducerConfig::from_properties`]); both end in the same validation, so a config that
//! exists is valid. Properties use Java's key names and value syntax, so a `producer.properties`
//! file pasted from a Java application works unchanged, except that an unknown key is an error
//! (Java only logs it): a typo must not silently fall back to a default.
//!
//! Validation follows `ProducerConfig.postProcessAndValidateIdempotenceConfigs` and
//! `KafkaProducer.configureDeliveryTimeout`:
//!
//! - `delivery.timeout.ms` must be at least `linger.ms + request.timeout.ms`. Set explicitly
//!   lower, it is an error; left at its default, it is raised to the sum.
//! - Idempotence needs `acks=all`, `retries > 0` and `max.in.flight.requests.per.connection <= 5`.
//!   If the user set `enable.idempotence=true` explicitly, a conflict is an error; if idempotence
//!   is on only by default, a conflicting explicit setting turns it off (Java 3.2+).
//! - Compression levels (KIP-390): `compression.gzip.level` 1-9 or -1 (default),
//!   `compression.zstd.level` -131072 to 22 (default 3), as in Java. `compression.lz4.level`
//!   takes only Java's default, 9: kafkit's lz4 encoder (lz4_flex) is LZ4's fast compressor,
//!   which Java uses at that level; Java's other levels switch to LZ4 HC, so setting one is
//!   an error rather than a silent difference.
//!
//! # References
//! - `ProducerConfig.java`, `CommonClientConfigs.java`, `KafkaProducer.java`; producer-reference
//!   §1.5, §1.8; KIP-679 (acks=all and idempotence by default), KIP-1030 (linger.ms=5)

mod properties;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use kafkit_protocol::Compression;

use crate::error::{Error, Result};
use crate::partitioner::Partitioner;

/// Most batches an idempotent producer may have in flight per connection: the broker keeps the
/// last five batches per producer and partition (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
pub const MAX_IN_FLIGHT_FOR_IDEMPOTENCE: usize = 5;

/// `acks`: how many replicas must have the records before the leader answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// `acks=0`: the broker sends no response; a record counts as delivered once written to the
    /// socket, with offset -1.
    None,
    /// `acks=1`: the leader has appended the records.
    Leader,
    /// `acks=all` (`-1`): every in-sync replica has the records. The default.
    #[default]
    All,
}

impl Acks {
    /// The wire value of ProduceRequest's `acks`.
    pub const fn code(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        })
    }
}

/// The producer's configuration. Build one with [`ProducerConfig::builder`] or
/// [`ProducerConfig::from_properties`]; every getter names its Java key.
#[derive(Clone)]
pub struct ProducerConfig {
    bootstrap_servers: Vec<(String, u16)>,
    client_id: String,
    acks: Acks,
    enable_idempotence: bool,
    linger: Duration,
    batch_size: usize,
    buffer_memory: usize,
    max_block: Duration,
    max_request_size: usize,
    max_in_flight: usize,
    retries: u32,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    request_timeout: Duration,
    delivery_timeout: Duration,
    metadata_max_age: Duration,
    compression: Compression,
    compression_gzip_level: i32,
    compression_lz4_level: i32,
    compression_zstd_level: i32,
    reconnect_backoff: Duration,
    reconnect_backoff_max: Duration,
    partitioner_ignore_keys: bool,
    partitioner_adaptive: bool,
    partitioner_availability_timeout: Duration,
    partitioner: Option<Arc<dyn Partitioner>>,
    partitioner_seed: Option<u64>,
    transactional_id: Option<String>,
    transaction_timeout: Duration,
    security: crate::security::SecuritySettings,
}

impl fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("bootstrap.servers", &self.bootstrap_servers)
            .field("client.id", &self.client_id)
            .field("acks", &self.acks)
            .field("enable.idempotence", &self.enable_idempotence)
            .field("linger.ms", &self.linger)
            .field("batch.size", &self.batch_size)
            .field("buffer.memory", &self.buffer_memory)
            .field("max.block.ms", &self.max_block)
            .field("max.request.size", &self.max_request_size)
            .field("max.in.flight.requests.per.connection", &self.max_in_flight)
            .field("retries", &self.retries)
            .field("retry.backoff.ms", &self.retry_backoff)
            .field("retry.backoff.max.ms", &self.retry_backoff_max)
            .field("request.timeout.ms", &self.request_timeout)
            .field("delivery.timeout.ms", &self.delivery_timeout)
            .field("metadata.max.age.ms", &self.metadata_max_age)
            .field("compression.type", &self.compression)
            .field("compression.gzip.level", &self.compression_gzip_level)
            .field("compression.lz4.level", &self.compression_lz4_level)
            .field("compression.zstd.level", &self.compression_zstd_level)
            .field("reconnect.backoff.ms", &self.reconnect_backoff)
            .field("reconnect.backoff.max.ms", &self.reconnect_backoff_max)
            .field("partitioner.ignore.keys", &self.partitioner_ignore_keys)
            .field(
                "partitioner.adaptive.partitioning.enable",
                &self.partitioner_adaptive,
            )
            .field(
                "partitioner.availability.timeout.ms",
                &self.partitioner_availability_timeout,
            )
            .field("partitioner.class", &self.partitioner)
            .field("transactional.id", &self.transactional_id)
            .field("transaction.timeout.ms", &self.transaction_timeout)
            .field("security", &self.security)
            .finish()
    }
}

impl ProducerConfig {
    /// A builder with Java 4.x defaults and the given `bootstrap.servers` (comma-separated
    /// `host:port` list).
    pub fn builder(bootstrap_servers: impl Into<String>) -> ProducerConfigBuilder {
        ProducerConfigBuilder::new(bootstrap_servers)
    }

    /// A config from Java properties, validated. Unknown keys and malformed values are
    /// [`Error::Config`] naming the key.
    ///
    /// ```
    /// use kafkit_producer::{Acks, ProducerConfig};
    /// let config = ProducerConfig::from_properties([
    ///     ("bootstrap.servers", "localhost:9092"),
    ///     ("acks", "1"),
    ///     ("linger.ms", "20"),
    /// ])?;
    /// assert_eq!(config.acks(), Acks::Leader);
    /// assert!(!config.enable_idempotence(), "acks=1 turns default idempotence off");
    /// # Ok::<(), kafkit_producer::Error>(())
    /// ```
    pub fn from_properties<'a>(properties: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut builder = ProducerConfigBuilder::empty();
        for (key, value) in properties {
            builder = builder.set(key, value);
        }
        // A bad key or value stops `set` from reading later keys (bootstrap.servers among them),
        // so it is the error to report.
        if builder.error.is_none() && !builder.explicit.contains("bootstrap.servers") {
            return Err(Error::config(
                "bootstrap.servers",
                "missing: the list of brokers to bootstrap from",
            ));
        }
        builder.build()
    }

    /// `bootstrap.servers`: the brokers the first metadata request goes to.
    pub fn bootstrap_servers(&self) -> &[(String, u16)] {
        &self.bootstrap_servers
    }
    /// `client.id`: sent in every request header.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// `acks`.
    pub fn acks(&self) -> Acks {
        self.acks
    }
    /// `enable.idempotence`, after validation (it may have been turned off, see module docs).
    pub fn enable_idempotence(&self) -> bool {
        self.enable_idempotence
    }
    /// `linger.ms`: how long a batch waits for more records before it is sent.
    pub fn linger(&self) -> Duration {
        self.linger
    }
    /// `batch.size`: bytes of records after which a batch is full.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// `buffer.memory`: bytes of batches the producer holds before `send` waits.
    pub fn buffer_memory(&self) -> usize {
        self.buffer_memory
    }
    /// `max.block.ms`: how long `send` waits for metadata and buffer memory.
    pub fn max_block(&self) -> Duration {
        self.max_block
    }
    /// `max.request.size`: the largest record (and, a single batch excepted, request) sent.
    pub fn max_request_size(&self) -> usize {
        self.max_request_size
    }
    /// `max.in.flight.requests.per.connection`: produce requests awaiting an answer per broker.
    /// Above 1 without idempotence, a retry can reorder records.
    pub fn max_in_flight_requests_per_connection(&self) -> usize {
        self.max_in_flight
    }
    /// `retries`: attempts after the first, further bounded by `delivery.timeout.ms`.
    pub fn retries(&self) -> u32 {
        self.retries
    }
    /// `retry.backoff.ms`: the first retry's backoff.
    pub fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }
    /// `retry.backoff.max.ms`: the cap of the exponential backoff.
    pub fn retry_backoff_max(&self) -> Duration {
        self.retry_backoff_max
    }
    /// `request.timeout.ms`: how long a request waits for its response.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
    /// `delivery.timeout.ms`, after validation (it may have been raised, see module docs).
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }
    /// `metadata.max.age.ms`: metadata is refreshed at least this often.
    pub fn metadata_max_age(&self) -> Duration {
        self.metadata_max_age
    }
    /// `compression.type`.
    pub fn compression(&self) -> Compression {
        self.compression
    }
    /// The level of `compression.type`'s codec (`compression.gzip.level`,
    /// `compression.lz4.level` or `compression.zstd.level`); `None` for a codec without
    /// levels.
    pub fn compression_level(&self) -> Option<i32> {
        match self.compression {
            Compression::Gzip => Some(self.compression_gzip_level),
            Compression::Lz4 => Some(self.compression_lz4_level),
            Compression::Zstd => Some(self.compression_zstd_level),
            Compression::None | Compression::Snappy => None,
        }
    }
    /// The codec and level batches are compressed with.
    pub(crate) fn codec(&self) -> Codec {
        Codec {
            compression: self.compression,
            level: self.compression_level(),
        }
    }
    /// `reconnect.backoff.ms`.
    pub fn reconnect_backoff(&self) -> Duration {
        self.reconnect_backoff
    }
    /// `reconnect.backoff.max.ms`.
    pub fn reconnect_backoff_max(&self) -> Duration {
        self.reconnect_backoff_max
    }
    /// `partitioner.ignore.keys`: keyed records are partitioned as keyless ones.
    pub fn partitioner_ignore_keys(&self) -> bool {
        self.partitioner_ignore_keys
    }
    /// `partitioner.adaptive.partitioning.enable`: keyless records favour partitions with
    /// shorter queues (see [`crate::partitioner`]).
    pub fn partitioner_adaptive(&self) -> bool {
        self.partitioner_adaptive
    }
    /// `partitioner.availability.timeout.ms`: with adaptive partitioning, the partitions of a
    /// broker that could not take its sendable data for this long are left out of the draw
    /// (zero: never).
    pub fn partitioner_availability_timeout(&self) -> Duration {
        self.partitioner_availability_timeout
    }
    /// The custom partitioner (Java's `partitioner.class`), if any.
    pub fn partitioner(&self) -> Option<&Arc<dyn Partitioner>> {
        self.partitioner.as_ref()
    }
    /// The seed of the sticky partitioner's random draws, if fixed.
    pub fn partitioner_seed(&self) -> Option<u64> {
        self.partitioner_seed
    }

    /// `transactional.id`, if the producer is transactional.
    /// `security.protocol`.
    pub fn security_protocol(&self) -> crate::SecurityProtocol {
        self.security.protocol
    }

    /// The TLS and SASL settings.
    pub(crate) fn security(&self) -> &crate::security::SecuritySettings {
        &self.security
    }

    /// `transactional.id`.
    pub fn transactional_id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    /// `transaction.timeout.ms`.
    pub fn transaction_timeout(&self) -> Duration {
        self.transaction_timeout
    }
}

/// Builds a [`ProducerConfig`]; setters name the Java key they set. Errors (a bad value given
/// to [`set`](Self::set)) are reported by [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
    /// Keys the user set, for the rules that depend on whether a value is a default.
    explicit: BTreeSet<&'static str>,
    /// The first error met while setting values.
    error: Option<Error>,
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty => $field:ident, $key:literal; )*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$field = value;
            self.explicit.insert($key);
            self
        }
    )*};
}

impl ProducerConfigBuilder {
    /// A builder with Java 4.x defaults and the given `bootstrap.servers`.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        ProducerConfigBuilder::empty().set("bootstrap.servers", &bootstrap_servers.into())
    }

    fn empty() -> Self {
        ProducerConfigBuilder {
            config: ProducerConfig {
                bootstrap_servers: Vec::new(),
                client_id: "kafkit-producer".to_string(),
                acks: Acks::All,
                enable_idempotence: true,
                linger: Duration::from_millis(5),
                batch_size: 16_384,
                buffer_memory: 32 * 1024 * 1024,
                max_block: Duration::from_secs(60),
                max_request_size: 1024 * 1024,
                max_in_flight: 5,
                retries: i32::MAX as u32,
                retry_backoff: Duration::from_millis(100),
                retry_backoff_max: Duration::from_millis(1000),
                request_timeout: Duration::from_secs(30),
                delivery_timeout: Duration::from_secs(120),
                metadata_max_age: Duration::from_secs(300),
                compression: Compression::None,
                compression_gzip_level: level_default(Compression::Gzip),
                compression_lz4_level: level_default(Compression::Lz4),
                compression_zstd_level: level_default(Compression::Zstd),
                reconnect_backoff: Duration::from_millis(50),
                reconnect_backoff_max: Duration::from_millis(1000),
                partitioner_ignore_keys: false,
                partitioner_adaptive: true,
                partitioner_availability_timeout: Duration::ZERO,
                partitioner: None,
                partitioner_seed: None,
                transactional_id: None,
                transaction_timeout: Duration::from_secs(60),
                security: crate::security::SecuritySettings::default(),
            },
            explicit: BTreeSet::new(),
            error: None,
        }
    }

    /// Sets a property by its Java key and string value, as in a properties file. An unknown key
    /// or a malformed value makes [`build`](Self::build) fail with [`Error::Config`].
    pub fn set(mut self, key: &str, value: &str) -> Self {
        if self.error.is_none() {
            match properties::apply(&mut self.config, key, value) {
                Ok(key) => {
                    self.explicit.insert(key);
                }
                Err(e) => self.error = Some(e),
            }
        }
        self
    }

    setters! {
        /// `client.id`.
        client_id: String => client_id, "client.id";
        /// `acks`.
        acks: Acks => acks, "acks";
        /// `enable.idempotence`.
        enable_idempotence: bool => enable_idempotence, "enable.idempotence";
        /// `linger.ms`.
        linger: Duration => linger, "linger.ms";
        /// `batch.size`.
        batch_size: usize => batch_size, "batch.size";
        /// `buffer.memory`.
        buffer_memory: usize => buffer_memory, "buffer.memory";
        /// `max.block.ms`.
        max_block: Duration => max_block, "max.block.ms";
        /// `max.request.size`.
        max_request_size: usize => max_request_size, "max.request.size";
        /// `max.in.flight.requests.per.connection`.
        max_in_flight_requests_per_connection: usize => max_in_flight, "max.in.flight.requests.per.connection";
        /// `retries`.
        retries: u32 => retries, "retries";
        /// `retry.backoff.ms`.
        retry_backoff: Duration => retry_backoff, "retry.backoff.ms";
        /// `retry.backoff.max.ms`.
        retry_backoff_max: Duration => retry_backoff_max, "retry.backoff.max.ms";
        /// `request.timeout.ms`.
        request_timeout: Duration => request_timeout, "request.timeout.ms";
        /// `delivery.timeout.ms`.
        delivery_timeout: Duration => delivery_timeout, "delivery.timeout.ms";
        /// `metadata.max.age.ms`.
        metadata_max_age: Duration => metadata_max_age, "metadata.max.age.ms";
        /// `compression.type`.
        compression: Compression => compression, "compression.type";
        /// `compression.gzip.level` (1-9, or -1 for the deflate default).
        compression_gzip_level: i32 => compression_gzip_level, "compression.gzip.level";
        /// `compression.lz4.level`: 9 only (see [`Compression::level_range`]).
        compression_lz4_level: i32 => compression_lz4_level, "compression.lz4.level";
        /// `compression.zstd.level` (-131072 to 22).
        compression_zstd_level: i32 => compression_zstd_level, "compression.zstd.level";
        /// `reconnect.backoff.ms`.
        reconnect_backoff: Duration => reconnect_backoff, "reconnect.backoff.ms";
        /// `reconnect.backoff.max.ms`.
        reconnect_backoff_max: Duration => reconnect_backoff_max, "reconnect.backoff.max.ms";
        /// `partitioner.ignore.keys`.
        partitioner_ignore_keys: bool => partitioner_ignore_keys, "partitioner.ignore.keys";
        /// `partitioner.adaptive.partitioning.enable`.
        partitioner_adaptive: bool => partitioner_adaptive, "partitioner.adaptive.partitioning.enable";
        /// `partitioner.availability.timeout.ms`.
        partitioner_availability_timeout: Duration => partitioner_availability_timeout, "partitioner.availability.timeout.ms";
        /// `transactional.id` (default none): makes the producer transactional (see
        /// [`Producer::init_transactions`](crate::Producer::init_transactions)). Needs
        /// idempotence, which it turns on unless `enable.idempotence=false` was set explicitly.
        transactional_id: Option<String> => transactional_id, "transactional.id";
        /// `transaction.timeout.ms` (default 60 s): how long the coordinator lets a transaction
        /// stay open before aborting it. The broker caps it (`transaction.max.timeout.ms`).
        transaction_timeout: Duration => transaction_timeout, "transaction.timeout.ms";
    }

    /// The OAUTHBEARER token source (Java's `sasl.login.callback.handler.class`): called for
    /// every authentication, so it can refresh the token. Used with
    /// `sasl.mechanism=OAUTHBEARER`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use kafkit_producer::ProducerConfig;
    /// let config = ProducerConfig::builder("localhost:9093")
    ///     .set("security.protocol", "SASL_SSL")
    ///     .set("sasl.mechanism", "OAUTHBEARER")
    ///     .oauth_token_provider(Arc::new(|| Ok("eyJhbGciOi...".to_string())))
    ///     .build()?;
    /// assert_eq!(config.security_protocol(), kafkit_producer::SecurityProtocol::SaslSsl);
    /// # Ok::<(), kafkit_producer::Error>(())
    /// ```
    pub fn oauth_token_provider(mut self, provider: crate::security::TokenProvider) -> Self {
        self.config.security.token_provider = Some(provider);
        self
    }

    /// A custom partitioner (Java's `partitioner.class`) for records without an explicit
    /// partition.
    pub fn partitioner(mut self, partitioner: Arc<dyn Partitioner>) -> Self {
        self.config.partitioner = Some(partitioner);
        self
    }

    /// Seeds the built-in sticky partitioner's random draws, so tests can predict where keyless
    /// records go (not a Java key: Java's draws cannot be seeded).
    pub fn partitioner_seed(mut self, seed: u64) -> Self {
        self.config.partitioner_seed = Some(seed);
        self
    }

    /// Validates and returns the config.
    pub fn build(self) -> Result<ProducerConfig> {
        if let Some(e) = self.error {
            return Err(e);
        }
        validate(self.config, &self.explicit)
    }
}

/// A codec and its level: what a batch is compressed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Codec {
    pub compression: Compression,
    /// `None`: the codec has no levels.
    pub level: Option<i32>,
}

impl From<Compression> for Codec {
    /// The codec at its default level.
    fn from(compression: Compression) -> Self {
        Codec {
            compression,
            level: None,
        }
    }
}

/// The default level of a codec that has levels.
const fn level_default(codec: Compression) -> i32 {
    match codec.level_range() {
        Some((_, _, default)) => default,
        None => 0,
    }
}

/// Java's cross-key rules (see the module docs).
fn validate(mut c: ProducerConfig, explicit: &BTreeSet<&'static str>) -> Result<ProducerConfig> {
    crate::security::validate(&mut c.security)?;
    for (codec, level, key) in [
        (
            Compression::Gzip,
            c.compression_gzip_level,
            "compression.gzip.level",
        ),
        (Compression::Lz4, c.compression_lz4_level, "compression.lz4.level"),
        (
            Compression::Zstd,
            c.compression_zstd_level,
            "compression.zstd.level",
        ),
    ] {
        let Some((min, max, default)) = codec.level_range() else {
            continue;
        };
        if level != default && !(min..=max).contains(&level) {
            let reason = if codec == Compression::Lz4 {
                format!(
                    "{level} is not supported: kafkit compresses lz4 at Java's default level 9 only \
                     (LZ4's fast compressor; Java's other levels, 1-17, use LZ4 HC)"
                )
            } else if codec == Compression::Gzip {
                format!("{level} is outside 1..=9 (or -1, the default)")
            } else {
                format!("{level} is outside {min}..={max}")
            };
            return Err(Error::config(key, reason));
        }
    }
    if c.bootstrap_servers.is_empty() {
        return Err(Error::config("bootstrap.servers", "no broker address given"));
    }
    if c.max_in_flight == 0 {
        return Err(Error::config(
            "max.in.flight.requests.per.connection",
            "must be at least 1",
        ));
    }
    if c.retries > i32::MAX as u32 {
        return Err(Error::config("retries", "must be at most 2147483647"));
    }
    let minimum_delivery = c.linger.saturating_add(c.request_timeout);
    if c.delivery_timeout < minimum_delivery {
        if explicit.contains("delivery.timeout.ms") {
            return Err(Error::config(
                "delivery.timeout.ms",
                format!(
                    "must be at least linger.ms + request.timeout.ms ({} ms)",
                    minimum_delivery.as_millis()
                ),
            ));
        }
        c.delivery_timeout = minimum_delivery;
    }
    if c.transactional_id.is_some() {
        // Java: "Cannot set a transactional.id without also enabling idempotence."
        if !c.enable_idempotence && explicit.contains("enable.idempotence") {
            return Err(Error::config(
                "transactional.id",
                "needs idempotence, but enable.idempotence is false",
            ));
        }
        if c.transaction_timeout.is_zero() || c.transaction_timeout.as_millis() > i32::MAX as u128 {
            return Err(Error::config(
                "transaction.timeout.ms",
                "must be between 1 and 2147483647",
            ));
        }
    }
    if c.enable_idempotence {
        // A transactional producer cannot drop idempotence quietly: conflicts are errors.
        let user_set = explicit.contains("enable.idempotence") || c.transactional_id.is_some();
        let conflicts = [
            (
                c.retries == 0,
                "retries",
                "must be non-zero when using the idempotent producer",
            ),
            (
                c.acks != Acks::All,
                "acks",
                "must be all when using the idempotent producer, otherwise idempotence cannot be guaranteed",
            ),
            (
                c.max_in_flight > MAX_IN_FLIGHT_FOR_IDEMPOTENCE,
                "max.in.flight.requests.per.connection",
                "must be at most 5 when using the idempotent producer",
            ),
        ];
        for (conflict, key, reason) in conflicts {
            if conflict {
                if user_set {
                    return Err(Error::config(key, reason));
                }
                tracing::info!(key, "idempotence disabled: {key} conflicts with it");
                c.enable_idempotence = false;
            }
        }
    }
    Ok(c)
}
