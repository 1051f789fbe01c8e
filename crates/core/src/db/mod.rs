//! The one module that knows the three SQL dialects. Queries elsewhere are written once
//! with `?` placeholders in the portable subset (BIGINT, VARCHAR/TEXT, epoch-millisecond
//! times, app-side lowercase keys); this module rewrites placeholders for PostgreSQL,
//! picks the migration folder, and opens write transactions the way each backend needs.

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Arguments, AssertSqlSafe, Encode, Transaction, Type};

use crate::error::{Error, Result};

mod group_commit;

static SQLITE: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../../migrations/postgres");
static MYSQL: Migrator = sqlx::migrate!("../../migrations/mysql");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::MySql),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }
}

pub type Query = sqlx::query::Query<'static, Any, AnyArguments>;
pub type QueryAs<T> = sqlx::query::QueryAs<'static, Any, T, AnyArguments>;
pub type QueryScalar<T> = sqlx::query::QueryScalar<'static, Any, T, AnyArguments>;
pub type Tx = Transaction<'static, Any>;

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    /// SQLite only: the one connection write transactions run on. SQLite admits one writer
    /// at a time; writers that race for the lock on separate connections wait in SQLite's
    /// busy handler, which sleeps 1, 2, 5, 10, 20… ms between tries, so under concurrent
    /// uploads most time is spent asleep. Queued here instead, each writer starts the
    /// moment the previous one commits.
    writer: Option<AnyPool>,
    /// SQLite only: the task that lets concurrent write transactions share a commit.
    committer: Option<group_commit::Committer>,
    backend: Backend,
}

impl Db {
    /// Connects and applies pending migrations of the backend named by the URL scheme.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(Error::Invalid("database.url"))?;
        // mariadb:// is accepted as a friendlier alias; the driver only knows mysql://.
        let url = match url.strip_prefix("mariadb:") {
            Some(rest) => Cow::Owned(format!("mysql:{rest}")),
            None => Cow::Borrowed(url),
        };
        let options = || AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let (pool, writer) = match backend {
            // Four readers: each SQLite connection is a thread of its own with its page
            // cache and prepared statements; nine of them were a fifth of the server's
            // memory under 16 concurrent uploads, and four keep both cores busy.
            Backend::Sqlite => (
                sqlite_options(options().max_connections(4))
                    .connect(&url)
                    .await?,
                Some(
                    sqlite_options(options().max_connections(1))
                        .connect(&url)
                        .await?,
                ),
            ),
            Backend::MySql => (
                options()
                    .max_connections(16)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::query("SET NAMES utf8mb4 COLLATE utf8mb4_bin")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?,
                None,
            ),
            Backend::Postgres => (options().max_connections(16).connect(&url).await?, None),
        };
        let mut db = Self {
            pool,
            writer,
            committer: None,
            backend,
        };
        db.migrator().run(&db.pool).await?;
        if backend == Backend::Sqlite {
            db.committer = Some(group_commit::Committer::start(db.clone()));
        }
        Ok(db)
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
            Backend::MySql => &MYSQL,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A query in the portable dialect (`?` placeholders), ready for binding.
    pub fn q(&self, sql: &'static str) -> Query {
        match self.backend {
            Backend::Postgres => sqlx::query(AssertSqlSafe(numbered_placeholders(sql))),
            Backend::Sqlite | Backend::MySql => sqlx::query(sql),
        }
    }

    /// Like [`Db::q`], decoding rows into `T`.
    pub fn qa<T>(&self, sql: &'static str) -> QueryAs<T>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow>,
    {
        match self.backend {
            Backend::Postgres => sqlx::query_as(AssertSqlSafe(numbered_placeholders(sql))),
            Backend::Sqlite | Backend::MySql => sqlx::query_as(sql),
        }
    }

    /// Like [`Db::q`], decoding the first column into `T`.
    pub fn qs<T>(&self, sql: &'static str) -> QueryScalar<T>
    where
        (T,): for<'r> sqlx::FromRow<'r, AnyRow>,
    {
        match self.backend {
            Backend::Postgres => sqlx::query_scalar(AssertSqlSafe(numbered_placeholders(sql))),
            Backend::Sqlite | Backend::MySql => sqlx::query_scalar(sql),
        }
    }

    /// A scalar query that locks the rows it reads until the transaction ends, and
    /// reads the latest committed state: `FOR UPDATE` on PostgreSQL and MySQL (whose
    /// REPEATABLE READ would otherwise read the transaction's first snapshot). SQLite
    /// needs nothing: a write transaction (`BEGIN IMMEDIATE`) excludes other writers.
    pub fn qs_for_update<T>(&self, sql: &'static str) -> QueryScalar<T>
    where
        (T,): for<'r> sqlx::FromRow<'r, AnyRow>,
    {
        match self.backend {
            Backend::Sqlite => sqlx::query_scalar(sql),
            Backend::Postgres => sqlx::query_scalar(AssertSqlSafe(format!(
                "{} FOR UPDATE",
                numbered_placeholders(sql)
            ))),
            Backend::MySql => sqlx::query_scalar(AssertSqlSafe(format!("{sql} FOR UPDATE"))),
        }
    }

    /// Statements to run together, in order, inside a transaction (see [`Batch`]).
    pub fn batch(&self) -> Batch {
        Batch {
            backend: self.backend,
            statements: Vec::new(),
            merged: AnyArguments::default(),
            error: None,
        }
    }

    /// Runs `work` in a write transaction and commits it. On SQLite, work that arrives
    /// while another transaction runs shares its commit (see `group_commit`); `work`
    /// then runs on the committer's task and must own what it uses. The result is
    /// returned once the commit is durable; a failing `work` changes nothing.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> futures_util::future::BoxFuture<'t, Result<T>>
            + Send
            + 'static,
    {
        if let Some(committer) = &self.committer {
            return committer.write(work).await;
        }
        let mut tx = self.begin_write().await?;
        let value = work(&mut tx).await?;
        tx.commit().await?;
        Ok(value)
    }

    /// A transaction that will write. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so that two writers never deadlock on lock upgrade.
    pub async fn begin_write(&self) -> Result<Tx> {
        let tx = match self.backend {
            Backend::Sqlite => {
                let pool = self.writer.as_ref().unwrap_or(&self.pool);
                // Another process on the same file (the CLI next to a running server)
                // can make BEGIN IMMEDIATE fail at once with "database is locked",
                // without SQLite's busy wait (which avoids deadlocks between readers
                // turning writers). Such a start is tried again for a few seconds.
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                loop {
                    match pool.begin_with("BEGIN IMMEDIATE").await {
                        Ok(tx) => break tx,
                        Err(e) if is_write_conflict(&e) && std::time::Instant::now() < deadline => {
                            crate::clock::pause(Duration::from_millis(50)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Backend::Postgres | Backend::MySql => self.pool.begin().await?,
        };
        Ok(tx)
    }

    pub async fn close(&self) {
        if let Some(w) = &self.writer {
            w.close().await;
        }
        self.pool.close().await;
    }
}

/// Statements that a use case writes one after the other, with no decision in between
/// (the node row, the quota, the ETags, the outbox event and the audit entry of an
/// upload). On SQLite they travel to the connection's thread as one multi-statement
/// query: every trip there and back is a pair of thread switches, and inside a write
/// transaction each trip delays the next writer. PostgreSQL and MySQL do not accept
/// several statements with parameters in one prepared query, so there they run one by
/// one, exactly as separate queries would. A failing statement stops the batch and its
/// error is returned; the caller's transaction is then rolled back.
pub struct Batch {
    backend: Backend,
    /// Each statement with its own arguments (PostgreSQL, MySQL).
    statements: Vec<(&'static str, AnyArguments)>,
    /// SQLite: the arguments of all statements in order, since the multi-statement
    /// query takes its `?` values one after the other across the statements.
    merged: AnyArguments,
    /// The first value that could not be encoded; reported by `execute`.
    error: Option<String>,
}

impl Batch {
    /// Starts the next statement (portable dialect, `?` placeholders).
    pub fn push(&mut self, sql: &'static str) -> &mut Self {
        self.statements.push((sql, AnyArguments::default()));
        self
    }

    /// Binds the next `?` of the statement last pushed.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Any> + Type<Any> + 'static,
    {
        let args = match (self.backend, self.statements.last_mut()) {
            (_, None) => {
                self.error.get_or_insert_with(|| "bind before push".into());
                return self;
            }
            (Backend::Sqlite, Some(_)) => &mut self.merged,
            (_, Some((_, args))) => args,
        };
        if let Err(e) = args.add(value) {
            self.error.get_or_insert_with(|| e.to_string());
        }
        self
    }

    pub async fn execute(self, tx: &mut Tx) -> Result<()> {
        if let Some(e) = self.error {
            return Err(Error::Internal(format!("batch: {e}")));
        }
        match self.backend {
            Backend::Sqlite => {
                let mut sql = String::new();
                for (part, _) in &self.statements {
                    sql.push_str(part);
                    sql.push_str(";\n");
                }
                if !sql.is_empty() {
                    sqlx::query_with(AssertSqlSafe(sql), self.merged)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            Backend::Postgres => {
                for (part, args) in self.statements {
                    sqlx::query_with(AssertSqlSafe(numbered_placeholders(part)), args)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            Backend::MySql => {
                for (part, args) in self.statements {
                    sqlx::query_with(part, args).execute(&mut **tx).await?;
                }
            }
        }
        Ok(())
    }
}

/// Every SQLite connection: WAL lets readers proceed during a write; busy_timeout makes a
/// writer outside the write connection wait instead of failing.
fn sqlite_options(options: AnyPoolOptions) -> AnyPoolOptions {
    // No ping before handing out a connection: a local file does not drop connections,
    // and the ping was one more round trip to the connection's thread for every query
    // (a small upload makes some twenty-five).
    options.test_before_acquire(false).after_connect(|conn, _| {
        Box::pin(async move {
            // The wait for a lock comes first: another process (the CLI next to a
            // running server) may hold the database while the journal mode is set.
            for pragma in [
                "PRAGMA busy_timeout = 10000",
                "PRAGMA journal_mode = WAL",
                // FULL: a commit the user was told about survives a power loss (NORMAL in
                // WAL mode may lose the last transactions).
                "PRAGMA synchronous = FULL",
                "PRAGMA foreign_keys = ON",
                // 512 KiB of page cache per connection instead of 2 MiB: the database
                // file sits in the OS page cache anyway, and nine connections with 2 MiB
                // each were a third of the server's memory under load.
                "PRAGMA cache_size = -512",
            ] {
                sqlx::query(pragma).execute(&mut *conn).await?;
            }
            Ok(())
        })
    })
}

/// Rewrites `?` to `$1`, `$2`, … outside string literals, for PostgreSQL.
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut in_string = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                in_string = !in_string;
                out.push(c);
            }
            '?' if !in_string => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// Escapes `%`, `_` and the escape character itself for `LIKE ? ESCAPE '!'`.
/// `!` rather than backslash: MySQL treats a backslash in a literal as an escape.
pub fn like_pattern(needle: &str) -> String {
    let mut out = String::from("%");
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// True when the database refused a transaction because of a concurrent one and the
/// same transaction may simply be run again: MySQL/MariaDB deadlock (1213) or lock wait
/// timeout (1205), Galera certification failure and PostgreSQL serialisation failure or
/// deadlock (SQLSTATE 40001/40P01), SQLite busy/locked.
pub fn is_write_conflict(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(d) = e else {
        return false;
    };
    let code = d.code().unwrap_or_default();
    matches!(
        code.as_ref(),
        "40001" | "40P01" | "1213" | "1205" | "5" | "6" | "261" | "517"
    ) || d.message().contains("Deadlock found")
        || d.message().contains("database is locked")
}

/// True when the error is a unique-constraint violation (duplicate key), on any backend.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => matches!(d.kind(), sqlx::error::ErrorKind::UniqueViolation),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_literals() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE b = ? AND c LIKE '?x' AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c LIKE '?x' AND d = $2"
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a!"), "%50!%!_a!!%");
    }
}
