//! Passwords: Argon2id PHC hashes, computed on a pool of `hash_threads`
//! dedicated, lower-priority threads (each holds ~19 MiB while hashing), and a
//! dummy verification for unknown users so both answers cost the same.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use anyhow::Context;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

use crate::config::PasswordSettings;

/// Longest password accepted, so hashing cost can't be inflated by a client.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    pool: HashPool,
    /// A hash of a random password with the current parameters: verified
    /// against when the user does not exist.
    dummy_hash: Arc<String>,
}

/// What a successful verification learned about the stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    Match { needs_rehash: bool },
    Mismatch,
}

impl PasswordHasher {
    pub fn new(settings: &PasswordSettings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
        let threads = match settings.hash_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let pool = HashPool::start(threads)?;
        // Computed on the pool too, so that no other thread ever holds
        // Argon2 working memory.
        let dummy_secret = uuid::Uuid::new_v4().to_string();
        let dummy_params = params.clone();
        let dummy_hash =
            pool.run_blocking(move || hash_now(&dummy_params, dummy_secret.as_bytes()))?;
        Ok(Self {
            params,
            pool,
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    /// Hashes on a blocking thread once a hashing slot is free.
    pub async fn hash(&self, password: &SecretString) -> anyhow::Result<String> {
        let password = password.clone();
        let params = self.params.clone();
        self.run_bounded(move || hash_now(&params, password.expose_secret().as_bytes()))
            .await
    }

    /// Verifies against `stored`, or against a dummy hash when there is no
    /// user, so an unknown name costs as much as a wrong password.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored: Option<&str>,
    ) -> anyhow::Result<Verified> {
        let exists = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        let password = password.clone();
        let params = self.params.clone();
        let verified = self
            .run_bounded(move || verify_now(&params, password.expose_secret().as_bytes(), &stored))
            .await?;
        Ok(if exists { verified } else { Verified::Mismatch })
    }

    async fn run_bounded<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> anyhow::Result<T> + Send + 'static,
    {
        self.pool.run(work).await
    }

    /// Hashes queued or running now (the `twofold_password_hash_queue_depth` gauge).
    pub fn queue_depth(&self) -> usize {
        self.pool.depth.load(Ordering::Relaxed)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Threads that do nothing but Argon2. They are few (memory is bounded by
/// their number) and run at a lower priority, so that when logins saturate
/// every core, session checks and pages still get the CPU first: hashing can
/// never starve `/api/v1/verify`. They end when the last hasher is dropped.
#[derive(Clone)]
struct HashPool {
    jobs: mpsc::Sender<Job>,
    /// Jobs sent and not finished.
    depth: Arc<AtomicUsize>,
}

impl HashPool {
    fn start(threads: usize) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .context("starting a hashing thread")?;
        }
        Ok(Self {
            jobs,
            depth: Arc::default(),
        })
    }

    /// As `run`, for callers outside the async runtime (start-up).
    fn run_blocking<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> anyhow::Result<T> + Send + 'static,
    {
        let (answer, result) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
        });
        self.jobs
            .send(job)
            .map_err(|_| anyhow::anyhow!("the hashing pool has stopped"))?;
        result.recv().context("a hashing thread failed")?
    }

    async fn run<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> anyhow::Result<T> + Send + 'static,
    {
        let (answer, result) = oneshot::channel();
        let depth = self.depth.clone();
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
            depth.fetch_sub(1, Ordering::Relaxed);
        });
        self.depth.fetch_add(1, Ordering::Relaxed);
        self.jobs.send(job).map_err(|_| {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            anyhow::anyhow!("the hashing pool has stopped")
        })?;
        result.await.context("a hashing thread failed")?
    }
}

/// On Linux a thread can have its own scheduling policy: `SCHED_IDLE` runs it
/// only on CPU time nothing else wants, so a session check that wakes up
/// preempts a hash at once. If that is refused, a nice value of 10.
#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // SAFETY: plain syscalls about the calling thread (pid 0 / its tid);
    // failure only leaves the default priority.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 10);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

thread_local! {
    /// Argon2's working memory (`m_cost` KiB), kept for the life of the
    /// thread and reused by every hash it computes. Allocating and freeing
    /// 19 MiB per hash makes glibc keep each freed block around per malloc
    /// arena, which bloated the server to hundreds of MiB under load; one
    /// buffer per hashing thread bounds Argon2's memory to threads × m_cost.
    static WORKING_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Computes an Argon2 output into `out` with this thread's working memory.
fn argon2_into(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> anyhow::Result<()> {
    WORKING_MEMORY.with_borrow_mut(|memory| {
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|e| anyhow::anyhow!("computing Argon2: {e}"))
    })
}

/// An Argon2id PHC string of `secret` with the default (OWASP) parameters,
/// made on the calling thread: `twofold oidc hash-secret`'s client secrets.
pub fn hash_with_default_params(secret: &[u8]) -> anyhow::Result<String> {
    hash_now(&Params::default(), secret)
}

fn hash_now(params: &Params, password: &[u8]) -> anyhow::Result<String> {
    let salt = Salt::generate();
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        password,
        &salt,
        &mut output,
    )?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(salt),
        hash: Some(Output::new(&output).map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    Ok(hash.to_string())
}

fn verify_now(params: &Params, password: &[u8], stored: &str) -> anyhow::Result<Verified> {
    let unreadable = |e: &dyn std::fmt::Display| anyhow::anyhow!("stored hash unreadable: {e}");
    let parsed = PasswordHash::new(stored).map_err(|e| unreadable(&e))?;
    // The stored hash carries its own algorithm and parameters; verification
    // uses those, so hashes made before a parameter change keep working.
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| unreadable(&e))?;
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .map_err(|e| unreadable(&e))?;
    let stored_params = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(anyhow::anyhow!("stored hash has no salt or output"));
    };
    let mut computed = vec![0u8; expected.len()];
    argon2_into(
        algorithm,
        version,
        &stored_params,
        password,
        salt,
        &mut computed,
    )?;
    // Output's equality is constant-time.
    if Output::new(&computed).map_err(|e| unreadable(&e))? != *expected {
        return Ok(Verified::Mismatch);
    }
    let needs_rehash = algorithm != Algorithm::Argon2id
        || stored_params.m_cost() < params.m_cost()
        || stored_params.t_cost() < params.t_cost()
        || stored_params.p_cost() < params.p_cost();
    Ok(Verified::Match { needs_rehash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordSettings {
        PasswordSettings {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            ..PasswordSettings::default()
        }
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        let hash = hasher.hash(&"correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            hasher
                .verify(&"correct horse".into(), Some(&hash))
                .await
                .unwrap(),
            Verified::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            hasher
                .verify(&"correct hors".into(), Some(&hash))
                .await
                .unwrap(),
            Verified::Mismatch
        );
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crates_own_api() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        let params = Params::new(1024, 1, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert_eq!(
            hasher
                .verify(&"correct horse".into(), Some(&theirs))
                .await
                .unwrap(),
            Verified::Match {
                needs_rehash: false
            }
        );
        let ours = hasher.hash(&"correct horse".into()).await.unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .verify_password(b"correct horse", ours.as_str())
            .unwrap();
    }

    #[tokio::test]
    async fn a_reused_working_memory_gives_the_same_answers() {
        let hasher = PasswordHasher::new(&PasswordSettings {
            hash_threads: 1,
            ..cheap()
        })
        .unwrap();
        let hash = hasher.hash(&"first".into()).await.unwrap();
        for _ in 0..3 {
            assert_eq!(
                hasher.verify(&"first".into(), Some(&hash)).await.unwrap(),
                Verified::Match {
                    needs_rehash: false
                }
            );
            assert_eq!(
                hasher.verify(&"second".into(), Some(&hash)).await.unwrap(),
                Verified::Mismatch
            );
        }
    }

    #[tokio::test]
    async fn an_unknown_user_never_matches() {
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        assert_eq!(
            hasher.verify(&"anything".into(), None).await.unwrap(),
            Verified::Mismatch
        );
    }

    #[tokio::test]
    async fn a_hash_with_weaker_parameters_asks_for_a_rehash() {
        let old = PasswordHasher::new(&cheap()).unwrap();
        let hash = old.hash(&"correct horse".into()).await.unwrap();
        let stronger = PasswordHasher::new(&PasswordSettings {
            argon2_memory_kib: 2048,
            ..cheap()
        })
        .unwrap();
        assert_eq!(
            stronger
                .verify(&"correct horse".into(), Some(&hash))
                .await
                .unwrap(),
            Verified::Match { needs_rehash: true }
        );
    }
}
