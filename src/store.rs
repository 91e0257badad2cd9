//! Day files in an S3 bucket (or an S3-compatible store): parse `s3://bucket/prefix`, and list,
//! download, upload and delete objects under the prefix through the `object_store` crate, on a
//! small current-thread runtime used only here. An upload is one PUT, so an object is always
//! complete or absent; it is conditional (`If-None-Match: *`, or `If-Match` the ETag the writer
//! read), so that two machines writing one day never overwrite each other's records unseen.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, RetryConfig,
    UpdateVersion,
};

/// S3's limit for one PUT. A day file is far smaller (a million records make about 20 MB); a
/// larger one is refused rather than sent in parts, which cannot be made conditional here.
const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Bounds on one request and on retrying it, so an unreachable endpoint fails the run in
/// seconds rather than in the crate's default of minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An endpoint that accepts the connection but never answers fails a request after this long;
/// no retry starts after `RETRY_TIMEOUT`, so that is about the longest one operation waits.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_RETRIES: usize = 2;
const RETRY_TIMEOUT: Duration = Duration::from_secs(20);

/// The environment variables that carry AWS secrets: their values are scrubbed from every error.
const SECRET_VARS: [&str; 2] = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/// `s3://bucket/prefix`, validated. Shown as given, minus a trailing slash: it holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUrl {
    pub bucket: String,
    /// Without leading or trailing slashes; empty for the bucket's root.
    pub prefix: String,
}

impl BucketUrl {
    /// `Some` for an `s3://` URL (or an error saying what is wrong with it); `None` for a local
    /// path. Other schemes are refused rather than taken for a directory named `gs:`.
    pub fn parse(s: &str) -> Option<Result<BucketUrl, String>> {
        let scheme_end = s.find("://")?;
        let scheme = &s[..scheme_end];
        if !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
        {
            return None;
        }
        if !scheme.eq_ignore_ascii_case("s3") {
            return Some(Err(format!(
                "{scheme}:// is not supported: give a local directory or s3://bucket/prefix"
            )));
        }
        let parsed = match url::Url::parse(s) {
            Ok(u) => u,
            Err(e) => return Some(Err(format!("not a valid s3:// URL: {e}"))),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Some(Err(
                "an s3:// URL must not carry credentials: they come from the AWS environment"
                    .into(),
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Some(Err("an s3:// URL takes no query or fragment".into()));
        }
        // The bucket and prefix as typed: the URL parser lowercases hosts and folds `..`, and
        // either would silently point at another place.
        let rest = &s[scheme_end + 3..];
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket = bucket.to_string();
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
        if bucket.len() < 3 || bucket.len() > 63 || !bucket.chars().all(valid) {
            return Some(Err(format!(
                "{bucket:?} is not a bucket name (3-63 lowercase letters, digits, '-' or '.')"
            )));
        }
        // One trailing slash is the directory's; any other empty segment (`s3://b//x`) is a
        // typing mistake that would otherwise be dropped without a word.
        let prefix = path.strip_suffix('/').unwrap_or(path).to_string();
        if path.starts_with('/')
            || prefix
                .split('/')
                .any(|p| p == "." || p == ".." || (p.is_empty() && !prefix.is_empty()))
        {
            return Some(Err(
                "an s3:// prefix cannot hold empty, . or .. segments".into()
            ));
        }
        // Keys are the prefix exactly as typed (`données`, `~ops`, `50%`): only what no key can
        // hold is refused.
        if let Err(e) = ObjectPath::parse(&prefix) {
            return Some(Err(format!("{prefix:?} cannot be an s3:// prefix: {e}")));
        }
        // The client form-encodes a listing's prefix (space as `+`, `~` as `%7E`, `*` as is)
        // where S3's signature wants RFC 3986, so every listing under such a prefix (catch-up,
        // verify) fails with SignatureDoesNotMatch: refused here rather than written unlisted.
        if let Some(c) = prefix.chars().find(|c| matches!(c, ' ' | '~' | '*')) {
            return Some(Err(format!(
                "{prefix:?} cannot be an s3:// prefix: a {c:?} in it makes every listing fail \
                 its signature check; choose a prefix without spaces, '~' or '*'"
            )));
        }
        Some(Ok(BucketUrl { bucket, prefix }))
    }

    /// The object key of `rel` (a `/`-separated path under the prefix), as typed: parsed, not
    /// built with `From`, which percent-encodes anything outside ASCII and `~ \\ %` among
    /// others, so that `s3://bkt/données` would be written under `donn%C3%A9es`.
    fn key(&self, rel: &str) -> ObjectPath {
        let key = if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        };
        ObjectPath::parse(&key).expect("a validated prefix and a day file's name make a key")
    }

    /// The prefix as a key, for listing.
    fn prefix_key(&self) -> Option<ObjectPath> {
        (!self.prefix.is_empty())
            .then(|| ObjectPath::parse(&self.prefix).expect("validated when the URL was parsed"))
    }

    /// `s3://bucket/prefix/rel`, for reports.
    pub fn show(&self, rel: &str) -> String {
        let mut s = self.to_string();
        if !rel.is_empty() {
            s.push('/');
            s.push_str(rel);
        }
        s
    }
}

impl std::fmt::Display for BucketUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// An open bucket prefix. Credentials, region and endpoint come from the AWS environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`, ...), or the instance's role; never from the command line.
pub struct Bucket {
    url: BucketUrl,
    /// Any object store: everything below speaks `ObjectStore`, and only `s3_store` knows S3.
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
}

/// An object's version as a conditional write names it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Version {
    pub e_tag: Option<String>,
    pub version: Option<String>,
}

/// What an upload expects to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No object (`If-None-Match: *`).
    Nothing,
    /// The version the writer read (`If-Match`).
    Version(Version),
    /// Whatever is there (`--force`).
    Anything,
}

/// What an upload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub version: Version,
    /// Written with a plain PUT: the store was configured without conditional writes, or
    /// the run was forced.
    pub unconditional: bool,
}

/// Another writer changed the object between this run's read and its write.
#[derive(Debug, thiserror::Error)]
#[error("{0} changed after this run read it: another writer published the day meanwhile")]
pub struct Changed(pub String);

/// Error text with the values of the AWS secret variables replaced by `***`.
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    for var in SECRET_VARS {
        if let Ok(secret) = std::env::var(var) {
            if secret.len() >= 4 {
                out = out.replace(&secret, "***");
            }
        }
    }
    out
}

fn scrubbed(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(scrub(&e.to_string()))
}

/// Whether the store answered that the bucket itself does not exist: S3 says so only in the
/// XML body of a 404, which `object_store` also reports as a missing object.
fn no_such_bucket(e: &object_store::Error) -> bool {
    e.to_string().contains("<Code>NoSuchBucket</Code>")
}

/// The S3 (or S3-compatible) store of `url`, from the AWS environment, with this tool's retry
/// and timeout limits. A store of another kind is one more such function.
fn s3_store(url: &BucketUrl) -> Result<Arc<dyn ObjectStore>> {
    // HTTPS through the rustls and ring already built for rediss://; set once per process
    // (a second call finds it set, which is fine).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&url.bucket)
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
        })
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(CONNECT_TIMEOUT)
                .with_timeout(REQUEST_TIMEOUT),
        );
    // An S3-compatible store on plain HTTP (MinIO on a LAN, a test server) is allowed when
    // its endpoint says so; AWS itself is always HTTPS.
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
    }
    let store: AmazonS3 = builder
        .build()
        .map_err(scrubbed)
        .with_context(|| format!("configuring {url} from the AWS environment"))?;
    Ok(Arc::new(store))
}

impl Bucket {
    pub fn open(url: &BucketUrl) -> Result<Bucket> {
        let store = s3_store(url)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .enable_io()
            .build()
            .context("starting the runtime for object-store requests")?;
        Ok(Bucket {
            url: url.clone(),
            store,
            rt,
        })
    }

    pub fn url(&self) -> &BucketUrl {
        &self.url
    }

    /// A failed request's error for people: a missing bucket in one line, not the store's
    /// HTTP status and XML; secrets scrubbed from anything else.
    fn failure(&self, e: object_store::Error) -> anyhow::Error {
        if no_such_bucket(&e) {
            return anyhow!(
                "bucket {} does not exist: create it, or correct the bucket in the URL",
                self.url.bucket
            );
        }
        scrubbed(e)
    }

    /// Every object under the prefix, as (path relative to the prefix, size). Also proves the
    /// bucket exists and the credentials can read it.
    pub fn list(&self) -> Result<Vec<(String, u64)>> {
        let prefix = self.url.prefix_key();
        let metas: Vec<object_store::ObjectMeta> = self
            .rt
            .block_on(self.store.list(prefix.as_ref()).try_collect())
            .map_err(|e| self.failure(e))
            .with_context(|| format!("listing {}", self.url))?;
        let strip = if self.url.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.url.prefix)
        };
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let key = m.location.to_string();
                key.strip_prefix(&strip)
                    .map(|rel| (rel.to_string(), m.size))
            })
            .collect())
    }

    /// Writes the object `rel` into `out`: `None` when there is no such object, else what a
    /// conditional write must find there to replace it (its ETag).
    pub fn download(&self, rel: &str, out: &mut impl Write) -> Result<Option<Version>> {
        let key = self.url.key(rel);
        let got = self.rt.block_on(async {
            match self.store.get(&key).await {
                Ok(r) => {
                    let version = Version {
                        e_tag: r.meta.e_tag.clone(),
                        version: r.meta.version.clone(),
                    };
                    r.bytes().await.map(|b| Some((b, version)))
                }
                Err(e @ object_store::Error::NotFound { .. }) if !no_such_bucket(&e) => Ok(None),
                Err(e) => Err(e),
            }
        });
        match got
            .map_err(|e| self.failure(e))
            .with_context(|| format!("downloading {}", self.url.show(rel)))?
        {
            Some((bytes, version)) => {
                out.write_all(&bytes)
                    .with_context(|| format!("saving {}", self.url.show(rel)))?;
                Ok(Some(version))
            }
            None => Ok(None),
        }
    }

    /// Downloads every object under the prefix whose relative path `wanted` accepts into
    /// `dir`, under the same relative path. Returns (local copy, relative path) pairs.
    pub fn download_all(
        &self,
        dir: &Path,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<(std::path::PathBuf, String)>> {
        let mut copies = Vec::new();
        for (rel, _) in self.list()? {
            // A key with `..` would land outside `dir`; no exporter writes one.
            if !wanted(&rel) || rel.split('/').any(|c| c == ".." || c.is_empty()) {
                continue;
            }
            let local = dir.join(&rel);
            let parent = local.parent().unwrap_or(dir);
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            let mut f = std::fs::File::create(&local)
                .with_context(|| format!("creating {}", local.display()))?;
            self.download(&rel, &mut f)?;
            copies.push((local, rel));
        }
        Ok(copies)
    }

    /// Uploads the local file as `rel`, complete or not at all, on the condition `expect`.
    /// Another writer's object where this one expected none, or another version than the one
    /// it read, is a `Changed` error. A store configured without conditional writes
    /// (`AWS_CONDITIONAL_PUT=disabled`) gets a plain PUT, and says so in the result.
    pub fn upload(&self, rel: &str, file: &Path, expect: &Expect) -> Result<Uploaded> {
        let key = self.url.key(rel);
        let data = crate::fsio::read_bytes(file, MAX_PUT_BYTES)
            .with_context(|| format!("reading {}", file.display()))?;
        let mode = match expect {
            Expect::Anything => PutMode::Overwrite,
            Expect::Nothing => PutMode::Create,
            Expect::Version(v) => PutMode::Update(UpdateVersion {
                e_tag: v.e_tag.clone(),
                version: v.version.clone(),
            }),
        };
        let conditional = mode != PutMode::Overwrite;
        let put = |mode: PutMode| {
            let opts = PutOptions {
                mode,
                ..Default::default()
            };
            self.rt
                .block_on(self.store.put_opts(&key, data.clone().into(), opts))
        };
        let (result, unconditional) = match put(mode) {
            Err(object_store::Error::NotImplemented { .. }) if conditional => {
                (put(PutMode::Overwrite), true)
            }
            other => (other, !conditional),
        };
        match result {
            Ok(r) => Ok(Uploaded {
                version: Version {
                    e_tag: r.e_tag,
                    version: r.version,
                },
                unconditional,
            }),
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Err(Changed(self.url.show(rel)).into()),
            Err(e) => Err(self.failure(e)).with_context(|| {
                format!(
                    "uploading {} (a store that refuses conditional writes takes \
                     AWS_CONDITIONAL_PUT=disabled, and then only one machine may write the prefix)",
                    self.url.show(rel)
                )
            }),
        }
    }

    /// Deletes `rel` if it exists.
    pub fn delete(&self, rel: &str) -> Result<()> {
        let key = self.url.key(rel);
        self.rt
            .block_on(async {
                match self.store.delete(&key).await {
                    Ok(()) => Ok(()),
                    Err(e @ object_store::Error::NotFound { .. }) if !no_such_bucket(&e) => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .map_err(|e| self.failure(e))
            .with_context(|| format!("deleting {}", self.url.show(rel)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_are_parsed_and_other_schemes_refused() {
        let ok = |s: &str| BucketUrl::parse(s).unwrap().unwrap();
        assert_eq!(
            ok("s3://ops-data/analytics/ops/"),
            BucketUrl {
                bucket: "ops-data".into(),
                prefix: "analytics/ops".into()
            }
        );
        assert_eq!(ok("s3://ops-data").prefix, "");
        assert_eq!(
            ok("s3://ops-data/a").show("day=2025-10-30/x.parquet"),
            "s3://ops-data/a/day=2025-10-30/x.parquet"
        );
        assert!(BucketUrl::parse("/tmp/out").is_none());
        assert!(BucketUrl::parse("relative/dir").is_none());
        for bad in [
            "gs://b/p",
            "s3://AB/p",
            "s3://b/p",
            "s3://key:secret@bucket/p",
            "s3://bucket/p?x=1",
            "s3://bucket/../p",
            "s3://bucket//p",
            "s3://bucket/p//",
            "s3://bucket/a//p",
            "s3://bucket//",
        ] {
            assert!(BucketUrl::parse(bad).unwrap().is_err(), "{bad}");
        }
    }
}
