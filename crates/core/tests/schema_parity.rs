//! Schema parity between `migrations/sqlite`, `migrations/postgres` and `migrations/mysql`.
//!
//! Each backend's migrations are applied, through the sqlx `Any` driver as the application does,
//! to a fresh database. The database is then introspected through the native driver into a
//! normalised [`Schema`]: per table the ordered columns (name, normalised type, nullability,
//! generated key), the primary key, the unique keys and the other indexes by column list, and
//! the foreign keys. The descriptions of all backends must be equal.
//!
//! SQLite always runs (a temporary file). PostgreSQL runs when `AMTSBOTE_TEST_POSTGRES_URL` is
//! set (e.g. `postgres://postgres@127.0.0.1:5432/test`), MySQL/MariaDB when
//! `AMTSBOTE_TEST_MYSQL_URL` is set (e.g. `mysql://root@127.0.0.1:3306/test`). The URL is an
//! admin URL: through it a database `amtsbote_parity_<random>` is created, migrated, described
//! and dropped again. A missing URL skips that backend's part of each test visibly
//! (`prereq::ready`: a `SKIPPED` line, counted by `./test.sh`); with `AMTSBOTE_REQUIRE_ALL=1`
//! or `AMTSBOTE_REQUIRE_ALL_DATABASES=1` it fails the tests instead, so that CI cannot pass
//! by testing less.
//! `AMTSBOTE_SCHEMA_PARITY_DUMP=1` prints every description (run with `--nocapture`).
//!
//! Normalisation: SQLite's `INTEGER PRIMARY KEY [AUTOINCREMENT]` (a 64-bit rowid alias),
//! PostgreSQL's `BIGINT GENERATED ... AS IDENTITY` and MySQL's `BIGINT AUTO_INCREMENT` are all
//! `bigint generated`; `VARCHAR(n)`/`character varying(n)` is `varchar(n)` (lengths compared);
//! `TEXT` is `text`. Anything else is reported as `other:<declared type>`: the application talks
//! to the database through sqlx's `Any` driver, which only decodes `BIGINT` as `i64` and
//! `VARCHAR`/`TEXT` as `String` on all three backends. Indexes that InnoDB creates implicitly
//! for a foreign key (named after the constraint) are not part of the MySQL description.
//!
//! Known divergence that this test does not (cannot) remove: MySQL/MariaDB's `utf8mb4_bin` is a
//! PAD SPACE collation, so there `'a'` and `'a '` are the same key in a UNIQUE index and in `=`,
//! while SQLite and PostgreSQL keep them apart. Key columns (`*_key`) should therefore never end
//! in spaces; that is for the application to guarantee.

// Prerequisites: a missing database URL is a visible skip (allows dead code itself).
#[path = "../../../tests/prereq.rs"]
mod prereq;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::str::FromStr;

use sqlx::AnyConnection;
use sqlx::any::AnyTypeInfoKind;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{
    AssertSqlSafe, Column as _, ConnectOptions, Connection, Executor, Row, SqlSafeStr, Statement,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/mysql");

const POSTGRES_URL_VAR: &str = "AMTSBOTE_TEST_POSTGRES_URL";
const MYSQL_URL_VAR: &str = "AMTSBOTE_TEST_MYSQL_URL";
const REQUIRE_ALL_VAR: &str = "AMTSBOTE_REQUIRE_ALL_DATABASES";

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------------
// The normalised description
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct ColumnDesc {
    name: String,
    /// `bigint`, `varchar(<n>)`, `text` or `other:<declared type>`.
    ty: String,
    nullable: bool,
    /// The database generates the value (rowid alias, identity, auto_increment).
    generated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    columns: Vec<String>,
    ref_table: String,
    ref_columns: Vec<String>,
    on_update: String,
    on_delete: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TableDesc {
    columns: Vec<ColumnDesc>,
    primary_key: Vec<String>,
    /// Unique constraints and unique indexes other than the primary key, by column list.
    unique: BTreeSet<Vec<String>>,
    /// Other (non-unique) indexes: name → column list.
    indexes: BTreeMap<String, Vec<String>>,
    foreign_keys: BTreeSet<ForeignKey>,
}

type Schema = BTreeMap<String, TableDesc>;

/// Tables of the migration machinery, not of the application.
fn is_internal_table(name: &str) -> bool {
    name.starts_with("_sqlx") || name.starts_with("sqlite_")
}

fn render_table(name: &str, t: &TableDesc) -> Vec<String> {
    let list = |cols: &[String]| cols.join(", ");
    let mut lines = vec![format!("table {name}")];
    for c in &t.columns {
        lines.push(format!(
            "  column {} {}{}{}",
            c.name,
            c.ty,
            if c.nullable { " null" } else { " not null" },
            if c.generated { " generated" } else { "" }
        ));
    }
    lines.push(format!("  primary key ({})", list(&t.primary_key)));
    for u in &t.unique {
        lines.push(format!("  unique ({})", list(u)));
    }
    for (name, cols) in &t.indexes {
        lines.push(format!("  index {name} ({})", list(cols)));
    }
    for fk in &t.foreign_keys {
        lines.push(format!(
            "  foreign key ({}) references {} ({}) on update {} on delete {}",
            list(&fk.columns),
            fk.ref_table,
            list(&fk.ref_columns),
            fk.on_update,
            fk.on_delete
        ));
    }
    lines
}

fn render(schema: &Schema) -> Vec<String> {
    schema
        .iter()
        .flat_map(|(name, t)| render_table(name, t))
        .collect()
}

/// A unified-style line diff (longest common subsequence; the inputs are small).
fn diff_lines(left: &[String], right: &[String]) -> String {
    let (n, m) = (left.len(), right.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if left[i] == right[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    let mut last_table = String::new();
    let mut printed_table = String::new();
    while i < n || j < m {
        let (mark, line) = if i < n && j < m && left[i] == right[j] {
            i += 1;
            j += 1;
            (' ', &left[i - 1])
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            i += 1;
            ('-', &left[i - 1])
        } else {
            j += 1;
            ('+', &right[j - 1])
        };
        if line.starts_with("table ") {
            last_table.clone_from(line);
        }
        if mark != ' ' {
            // Show which table a changed line belongs to.
            if printed_table != last_table && !line.starts_with("table ") {
                let _ = writeln!(out, "  {last_table}");
            }
            printed_table.clone_from(&last_table);
            let _ = writeln!(out, "{mark} {line}");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Backends and scratch databases
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::MySql => &MYSQL_MIGRATIONS,
        }
    }

    /// The placeholder of the `n`-th (1-based) bind parameter; `Any` does not rewrite them.
    fn param(self, n: usize) -> String {
        match self {
            Backend::Postgres => format!("${n}"),
            Backend::Sqlite | Backend::MySql => "?".to_owned(),
        }
    }

    /// The admin URL a server backend needs (SQLite needs none).
    fn need(self) -> Option<prereq::Need> {
        let need = match self {
            Backend::Sqlite => return None,
            Backend::Postgres => prereq::Need::env(
                POSTGRES_URL_VAR,
                "an admin URL, e.g. postgres://postgres@127.0.0.1:5432/test",
            ),
            Backend::MySql => prereq::Need::env(
                MYSQL_URL_VAR,
                "an admin URL, e.g. mysql://root@127.0.0.1:3306/test",
            ),
        };
        Some(need.required_by(REQUIRE_ALL_VAR))
    }

    /// The admin URL of a server backend; the test has checked [`Backend::need`] first.
    fn admin_url(self) -> Result<String> {
        let var = match self {
            Backend::Sqlite => return Err("SQLite has no admin URL".into()),
            Backend::Postgres => POSTGRES_URL_VAR,
            Backend::MySql => MYSQL_URL_VAR,
        };
        match std::env::var(var) {
            Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
            _ => Err(
                format!("{var} is not set (the test checks it with prereq::ready first)").into(),
            ),
        }
    }
}

/// The backends `test` runs on, decided first thing: SQLite always, each server whose admin
/// URL is set. A server without one is a visible skip of that part of the test
/// (`SKIPPED <test> on postgres: needs …`), or a failure under `AMTSBOTE_REQUIRE_ALL=1` or
/// `AMTSBOTE_REQUIRE_ALL_DATABASES=1`.
fn backends(test: &str, wanted: &[Backend]) -> Vec<Backend> {
    wanted
        .iter()
        .copied()
        .filter(|b| match b.need() {
            None => true,
            Some(need) => prereq::ready(&format!("{test} on {}", b.name()), &[need]),
        })
        .collect()
}

const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];

fn sql(text: String) -> sqlx::SqlStr {
    AssertSqlSafe(text).into_sql_str()
}

/// `url` with its database (path) replaced by `database`; user, host and query are kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    format!("{base}/{database}{query}")
}

/// A fresh database with nothing but the applied migrations. Call [`ScratchDb::remove`].
struct ScratchDb {
    backend: Backend,
    /// URL of the scratch database (also understood by the `Any` driver).
    url: String,
    admin_url: Option<String>,
    name: String,
    file: Option<PathBuf>,
}

impl ScratchDb {
    /// Creates and migrates a scratch database.
    async fn create(backend: Backend) -> Result<ScratchDb> {
        sqlx::any::install_default_drivers();
        let name = format!("amtsbote_parity_{}", uuid::Uuid::new_v4().simple());
        let db = match backend {
            Backend::Sqlite => {
                let file = std::env::temp_dir().join(format!("{name}.db"));
                ScratchDb {
                    backend,
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    admin_url: None,
                    name,
                    file: Some(file),
                }
            }
            Backend::Postgres | Backend::MySql => {
                let admin_url = backend.admin_url()?;
                let mut admin = AnyConnection::connect(&admin_url)
                    .await
                    .map_err(|e| format!("cannot connect to the admin URL: {e}"))?;
                admin
                    .execute(sql(format!("CREATE DATABASE {name}")))
                    .await?;
                admin.close().await?;
                ScratchDb {
                    backend,
                    url: with_database(&admin_url, &name),
                    admin_url: Some(admin_url),
                    name,
                    file: None,
                }
            }
        };
        if let Err(e) = db.migrate().await {
            db.remove().await;
            return Err(format!("migrations failed: {e}").into());
        }
        Ok(db)
    }

    async fn migrate(&self) -> Result<()> {
        let mut conn = AnyConnection::connect(&self.url).await?;
        self.backend.migrator().run(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    async fn any(&self) -> Result<AnyConnection> {
        Ok(AnyConnection::connect(&self.url).await?)
    }

    async fn describe(&self) -> Result<Schema> {
        let schema = match self.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnectOptions::from_str(&self.url)?.connect().await?;
                let schema = describe_sqlite(&mut conn).await;
                conn.close().await?;
                schema?
            }
            Backend::Postgres => {
                let mut conn = PgConnectOptions::from_str(&self.url)?.connect().await?;
                let schema = describe_postgres(&mut conn).await;
                conn.close().await?;
                schema?
            }
            Backend::MySql => {
                let mut conn = MySqlConnectOptions::from_str(&self.url)?.connect().await?;
                let schema = describe_mysql(&mut conn).await;
                conn.close().await?;
                schema?
            }
        };
        Ok(schema)
    }

    /// Drops the scratch database (best effort; failures are printed, not raised).
    async fn remove(&self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
        let Some(admin_url) = &self.admin_url else {
            return;
        };
        let statement = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let result = async {
            let mut admin = AnyConnection::connect(admin_url).await?;
            admin.execute(sql(statement)).await?;
            admin.close().await
        }
        .await;
        if let Err(e) = result {
            eprintln!(
                "schema parity: could not drop {} database {}: {e}",
                self.backend.name(),
                self.name
            );
        }
    }
}

/// Runs `check` against a scratch database of each of `backends` (from [`backends`]); the
/// database is removed afterwards whatever the outcome. Returns `(backend, result)` per backend.
async fn for_each_backend<T, F>(backends: &[Backend], check: F) -> Result<Vec<(Backend, T)>>
where
    F: AsyncFn(&ScratchDb) -> Result<T>,
{
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for &backend in backends {
        match ScratchDb::create(backend).await {
            Ok(db) => {
                let outcome = check(&db).await;
                db.remove().await;
                match outcome {
                    Ok(value) => results.push((backend, value)),
                    Err(e) => errors.push(format!("{}: {e}", backend.name())),
                }
            }
            Err(e) => errors.push(format!("{}: {e}", backend.name())),
        }
    }
    if errors.is_empty() {
        Ok(results)
    } else {
        Err(errors.join("\n").into())
    }
}

// ---------------------------------------------------------------------------------------------
// Type normalisation
// ---------------------------------------------------------------------------------------------

/// `name(arg) rest` → (`name`, `Some(arg)`, `rest`), lower-cased and whitespace-collapsed.
fn split_type(raw: &str) -> (String, Option<String>, String) {
    let t = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    match (t.find('('), t.find(')')) {
        (Some(open), Some(close)) if open < close => (
            t[..open].trim().to_owned(),
            Some(t[open + 1..close].replace(' ', "")),
            t[close + 1..].trim().to_owned(),
        ),
        _ => (t.clone(), None, String::new()),
    }
}

fn varchar(len: Option<String>, raw: &str) -> String {
    match len {
        Some(n) if n.parse::<u32>().is_ok() => format!("varchar({n})"),
        _ => format!("other:{raw}"),
    }
}

/// SQLite: every integer is 64-bit; `INTEGER` appears only for the rowid-alias keys.
fn sqlite_type(raw: &str) -> String {
    match split_type(raw) {
        (base, None, rest) if rest.is_empty() && (base == "bigint" || base == "integer") => {
            "bigint".into()
        }
        (base, len, rest) if base == "varchar" && rest.is_empty() => varchar(len, raw),
        (base, None, rest) if base == "text" && rest.is_empty() => "text".into(),
        _ => format!("other:{raw}"),
    }
}

/// PostgreSQL, as printed by `format_type()`.
fn postgres_type(raw: &str) -> String {
    match split_type(raw) {
        (base, None, rest) if base == "bigint" && rest.is_empty() => "bigint".into(),
        (base, len, rest) if base == "character varying" && rest.is_empty() => varchar(len, raw),
        (base, None, rest) if base == "text" && rest.is_empty() => "text".into(),
        _ => format!("other:{raw}"),
    }
}

/// MySQL/MariaDB `COLUMN_TYPE` (`bigint(20)` on MariaDB, `bigint` on MySQL 8).
fn mysql_type(raw: &str) -> String {
    match split_type(raw) {
        (base, _, rest) if base == "bigint" && rest.is_empty() => "bigint".into(),
        (base, len, rest) if base == "varchar" && rest.is_empty() => varchar(len, raw),
        (base, None, rest) if base == "text" && rest.is_empty() => "text".into(),
        _ => format!("other:{raw}"),
    }
}

/// Referential actions; RESTRICT and NO ACTION behave alike for non-deferred constraints,
/// and InnoDB reports an unspecified action as RESTRICT.
fn fk_action(raw: &str) -> String {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "a" | "r" | "no action" | "restrict" => "no action".into(),
        "c" | "cascade" => "cascade".into(),
        "n" | "set null" => "set null".into(),
        "d" | "set default" => "set default".into(),
        other => format!("other:{other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Introspection
// ---------------------------------------------------------------------------------------------

async fn describe_sqlite(conn: &mut SqliteConnection) -> Result<Schema> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut *conn)
            .await?;
    let mut schema = Schema::new();
    for table in tables.into_iter().filter(|t| !is_internal_table(t)) {
        let mut desc = TableDesc::default();
        let rows = sqlx::query(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid",
        )
        .bind(&table)
        .fetch_all(&mut *conn)
        .await?;
        let mut pk: Vec<(i64, String)> = Vec::new();
        let mut declared_types = Vec::new();
        for row in &rows {
            let name: String = row.try_get(0)?;
            let declared: String = row.try_get(1)?;
            let not_null: i64 = row.try_get(2)?;
            let pk_pos: i64 = row.try_get(3)?;
            if pk_pos > 0 {
                pk.push((pk_pos, name.clone()));
            }
            desc.columns.push(ColumnDesc {
                ty: sqlite_type(&declared),
                nullable: not_null == 0,
                generated: false,
                name,
            });
            declared_types.push(declared);
        }
        pk.sort();
        desc.primary_key = pk.into_iter().map(|(_, name)| name).collect();
        // A single `INTEGER` primary key column is an alias of the rowid: generated on insert.
        if let [only] = desc.primary_key.as_slice()
            && let Some(pos) = desc.columns.iter().position(|c| &c.name == only)
            && declared_types[pos].trim().eq_ignore_ascii_case("integer")
        {
            desc.columns[pos].generated = true;
        }

        let indexes =
            sqlx::query("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)")
                .bind(&table)
                .fetch_all(&mut *conn)
                .await?;
        for index in indexes {
            let name: String = index.try_get(0)?;
            let unique: i64 = index.try_get(1)?;
            let origin: String = index.try_get(2)?;
            let partial: i64 = index.try_get(3)?;
            if origin == "pk" {
                continue;
            }
            let mut cols: Vec<String> = sqlx::query_scalar::<_, Option<String>>(
                "SELECT name FROM pragma_index_info(?1) ORDER BY seqno",
            )
            .bind(&name)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|c| c.unwrap_or_else(|| "<expression>".into()))
            .collect();
            if partial != 0 {
                cols.push("<partial>".into());
            }
            if unique != 0 {
                desc.unique.insert(cols);
            } else {
                desc.indexes.insert(name, cols);
            }
        }

        let fks = sqlx::query(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )
        .bind(&table)
        .fetch_all(&mut *conn)
        .await?;
        let mut grouped: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for fk in fks {
            let id: i64 = fk.try_get(0)?;
            let ref_table: String = fk.try_get(1)?;
            let from: String = fk.try_get(2)?;
            let to: Option<String> = fk.try_get(3)?;
            let entry = grouped.entry(id).or_insert_with(|| ForeignKey {
                columns: Vec::new(),
                ref_table: ref_table.clone(),
                ref_columns: Vec::new(),
                on_update: fk_action(&fk.try_get::<String, _>(4).unwrap_or_default()),
                on_delete: fk_action(&fk.try_get::<String, _>(5).unwrap_or_default()),
            });
            entry.columns.push(from);
            // `REFERENCES t` without columns means t's primary key.
            entry
                .ref_columns
                .push(to.unwrap_or_else(|| "<primary key>".into()));
        }
        desc.foreign_keys = grouped.into_values().collect();
        schema.insert(table, desc);
    }
    Ok(schema)
}

async fn describe_postgres(conn: &mut PgConnection) -> Result<Schema> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut schema = Schema::new();
    for table in tables.into_iter().filter(|t| !is_internal_table(t)) {
        let mut desc = TableDesc::default();
        let columns = sqlx::query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                    a.attidentity::text <> '' OR COALESCE(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%' \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE n.nspname = current_schema() AND c.relname::text = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        )
        .bind(&table)
        .fetch_all(&mut *conn)
        .await?;
        for row in columns {
            let declared: String = row.try_get(1)?;
            let not_null: bool = row.try_get(2)?;
            desc.columns.push(ColumnDesc {
                name: row.try_get(0)?,
                ty: postgres_type(&declared),
                nullable: !not_null,
                generated: row.try_get(3)?,
            });
        }

        let indexes = sqlx::query(
            "SELECT ic.relname::text, ix.indisunique, ix.indisprimary, ix.indpred IS NOT NULL, \
                    ARRAY(SELECT COALESCE(a.attname::text, '<expression>') \
                          FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                          LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum \
                          ORDER BY k.ord) \
             FROM pg_index ix \
             JOIN pg_class ic ON ic.oid = ix.indexrelid \
             JOIN pg_class t ON t.oid = ix.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() AND t.relname::text = $1",
        )
        .bind(&table)
        .fetch_all(&mut *conn)
        .await?;
        for index in indexes {
            let name: String = index.try_get(0)?;
            let unique: bool = index.try_get(1)?;
            let primary: bool = index.try_get(2)?;
            let partial: bool = index.try_get(3)?;
            let mut cols: Vec<String> = index.try_get(4)?;
            if primary {
                desc.primary_key = cols;
                continue;
            }
            if partial {
                cols.push("<partial>".into());
            }
            if unique {
                desc.unique.insert(cols);
            } else {
                desc.indexes.insert(name, cols);
            }
        }

        let fks = sqlx::query(
            "SELECT ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) \
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord), \
                    r.relname::text, \
                    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord) \
                          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.ord), \
                    c.confupdtype::text, c.confdeltype::text \
             FROM pg_constraint c \
             JOIN pg_class t ON t.oid = c.conrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN pg_class r ON r.oid = c.confrelid \
             WHERE c.contype = 'f' AND n.nspname = current_schema() AND t.relname::text = $1",
        )
        .bind(&table)
        .fetch_all(&mut *conn)
        .await?;
        for fk in fks {
            desc.foreign_keys.insert(ForeignKey {
                columns: fk.try_get(0)?,
                ref_table: fk.try_get(1)?,
                ref_columns: fk.try_get(2)?,
                on_update: fk_action(&fk.try_get::<String, _>(3)?),
                on_delete: fk_action(&fk.try_get::<String, _>(4)?),
            });
        }
        schema.insert(table, desc);
    }
    Ok(schema)
}

async fn describe_mysql(conn: &mut MySqlConnection) -> Result<Schema> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut schema = Schema::new();
    for table in tables.into_iter().filter(|t| !is_internal_table(t)) {
        let mut desc = TableDesc::default();
        let columns = sqlx::query(
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), \
                    CAST(EXTRA AS CHAR) \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
        )
        .bind(&table)
        .fetch_all(&mut *conn)
        .await?;
        for row in columns {
            let declared: String = row.try_get(1)?;
            let nullable: String = row.try_get(2)?;
            let extra: String = row.try_get(3)?;
            desc.columns.push(ColumnDesc {
                name: row.try_get(0)?,
                ty: mysql_type(&declared),
                nullable: nullable.eq_ignore_ascii_case("YES"),
                generated: extra.to_ascii_lowercase().contains("auto_increment"),
            });
        }

        let fks = sqlx::query(
            "SELECT CAST(k.CONSTRAINT_NAME AS CHAR), CAST(k.COLUMN_NAME AS CHAR), \
                    CAST(k.REFERENCED_TABLE_NAME AS CHAR), CAST(k.REFERENCED_COLUMN_NAME AS CHAR), \
                    CAST(r.UPDATE_RULE AS CHAR), CAST(r.DELETE_RULE AS CHAR) \
             FROM information_schema.KEY_COLUMN_USAGE k \
             JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
               ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
              AND r.TABLE_NAME = k.TABLE_NAME \
             WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        )
        .bind(&table)
        .fetch_all(&mut *conn)
        .await?;
        let mut grouped: BTreeMap<String, ForeignKey> = BTreeMap::new();
        for fk in fks {
            let name: String = fk.try_get(0)?;
            let entry = grouped.entry(name).or_insert(ForeignKey {
                columns: Vec::new(),
                ref_table: fk.try_get(2)?,
                ref_columns: Vec::new(),
                on_update: fk_action(&fk.try_get::<String, _>(4)?),
                on_delete: fk_action(&fk.try_get::<String, _>(5)?),
            });
            entry.columns.push(fk.try_get(1)?);
            entry.ref_columns.push(fk.try_get(3)?);
        }

        let index_rows = sqlx::query(
            "SELECT CAST(INDEX_NAME AS CHAR), CAST(NON_UNIQUE AS SIGNED), CAST(COLUMN_NAME AS CHAR), \
                    CAST(SUB_PART AS SIGNED) \
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
             ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        )
        .bind(&table)
        .fetch_all(&mut *conn)
        .await?;
        let mut indexes: BTreeMap<String, (bool, Vec<String>)> = BTreeMap::new();
        for row in index_rows {
            let name: String = row.try_get(0)?;
            let non_unique: i64 = row.try_get(1)?;
            let column: Option<String> = row.try_get(2)?;
            let sub_part: Option<i64> = row.try_get(3)?;
            let mut column = column.unwrap_or_else(|| "<expression>".into());
            if let Some(len) = sub_part {
                // A prefix index is not the same thing as an index on the whole column.
                column = format!("{column}({len})");
            }
            indexes
                .entry(name)
                .or_insert((non_unique == 0, Vec::new()))
                .1
                .push(column);
        }
        for (name, (unique, cols)) in indexes {
            if name == "PRIMARY" {
                desc.primary_key = cols;
            } else if unique {
                desc.unique.insert(cols);
            } else if grouped.get(&name).is_some_and(|fk| fk.columns == cols) {
                // Created implicitly by InnoDB for the foreign key of the same name.
            } else {
                desc.indexes.insert(name, cols);
            }
        }
        desc.foreign_keys = grouped.into_values().collect();
        schema.insert(table, desc);
    }
    Ok(schema)
}

/// MySQL-only table options the common description does not cover: InnoDB, utf8mb4_bin.
async fn mysql_option_problems(url: &str) -> Result<Vec<String>> {
    let mut conn = MySqlConnectOptions::from_str(url)?.connect().await?;
    let mut problems = Vec::new();
    let tables = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COALESCE(ENGINE, '') AS CHAR), \
                CAST(COALESCE(TABLE_COLLATION, '') AS CHAR) \
         FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
    )
    .fetch_all(&mut conn)
    .await?;
    for row in tables {
        let (table, engine, collation): (String, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if is_internal_table(&table) {
            continue;
        }
        if !engine.eq_ignore_ascii_case("InnoDB") {
            problems.push(format!("table {table}: ENGINE={engine}, expected InnoDB"));
        }
        if collation != "utf8mb4_bin" {
            problems.push(format!(
                "table {table}: COLLATE={collation}, expected utf8mb4_bin"
            ));
        }
    }
    let columns = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(COLLATION_NAME AS CHAR) \
         FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL AND COLLATION_NAME <> 'utf8mb4_bin'",
    )
    .fetch_all(&mut conn)
    .await?;
    for row in columns {
        let (table, column, collation): (String, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if !is_internal_table(&table) {
            problems.push(format!(
                "column {table}.{column}: COLLATE={collation}, expected utf8mb4_bin"
            ));
        }
    }
    conn.close().await?;
    Ok(problems)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

async fn describe_all(backends: &[Backend]) -> Result<Vec<(Backend, Schema)>> {
    for_each_backend(backends, async |db: &ScratchDb| db.describe().await).await
}

fn fail(message: String) -> ! {
    panic!("{message}")
}

#[tokio::test]
async fn all_backends_describe_the_same_schema() {
    let backends = backends(
        concat!(module_path!(), "::all_backends_describe_the_same_schema"),
        &ALL,
    );
    let described = describe_all(&backends)
        .await
        .unwrap_or_else(|e| fail(format!("{e}")));
    let (reference_backend, reference) = described
        .first()
        .unwrap_or_else(|| fail("no backend ran".into()));
    assert_eq!(*reference_backend, Backend::Sqlite);
    assert!(
        !reference.is_empty(),
        "the SQLite migrations define no tables"
    );

    // The conventions hold for the reference itself (so that `other:` types cannot match).
    let odd: Vec<String> = reference
        .iter()
        .flat_map(|(t, d)| d.columns.iter().map(move |c| (t, c)))
        .filter(|(_, c)| c.ty.starts_with("other:"))
        .map(|(t, c)| format!("{t}.{}: {}", c.name, c.ty))
        .collect();
    assert!(
        odd.is_empty(),
        "columns with types outside BIGINT/VARCHAR(n)/TEXT:\n{}",
        odd.join("\n")
    );

    let reference_lines = render(reference);
    if std::env::var_os("AMTSBOTE_SCHEMA_PARITY_DUMP").is_some() {
        for (backend, schema) in &described {
            eprintln!("--- {}\n{}", backend.name(), render(schema).join("\n"));
        }
    }
    let mut report = String::new();
    for (backend, schema) in &described[1..] {
        if schema != reference {
            let _ = writeln!(
                report,
                "\n{} differs from sqlite (- sqlite, + {}):\n{}",
                backend.name(),
                backend.name(),
                diff_lines(&reference_lines, &render(schema))
            );
        }
    }
    let ran: Vec<&str> = described.iter().map(|(b, _)| b.name()).collect();
    assert!(
        report.is_empty(),
        "schema parity failed (compared: {}):{report}",
        ran.join(", ")
    );
    eprintln!(
        "schema parity: compared {} ({} tables)",
        ran.join(", "),
        reference.len()
    );
}

#[tokio::test]
async fn every_table_and_column_exists_in_every_backend() {
    let backends = backends(
        concat!(
            module_path!(),
            "::every_table_and_column_exists_in_every_backend"
        ),
        &ALL,
    );
    let described = describe_all(&backends)
        .await
        .unwrap_or_else(|e| fail(format!("{e}")));
    let (_, reference) = described
        .first()
        .unwrap_or_else(|| fail("no backend ran".into()));
    let columns = |schema: &Schema| -> BTreeSet<String> {
        schema
            .iter()
            .flat_map(|(t, d)| {
                std::iter::once(t.clone())
                    .chain(d.columns.iter().map(move |c| format!("{t}.{}", c.name)))
            })
            .collect()
    };
    let expected = columns(reference);
    let mut report = String::new();
    for (backend, schema) in &described[1..] {
        let actual = columns(schema);
        let missing: Vec<&String> = expected.difference(&actual).collect();
        let extra: Vec<&String> = actual.difference(&expected).collect();
        if !missing.is_empty() {
            let _ = writeln!(
                report,
                "{}: missing (present in sqlite): {missing:?}",
                backend.name()
            );
        }
        if !extra.is_empty() {
            let _ = writeln!(
                report,
                "{}: extra (absent in sqlite): {extra:?}",
                backend.name()
            );
        }
    }
    assert!(
        report.is_empty(),
        "tables/columns differ between backends:\n{report}"
    );
}

/// Through the `Any` driver every column must come back as BIGINT (i64) or TEXT (String).
#[tokio::test]
async fn any_driver_sees_only_bigint_and_text() {
    let backends = backends(
        concat!(module_path!(), "::any_driver_sees_only_bigint_and_text"),
        &ALL,
    );
    let results = for_each_backend(&backends, async |db: &ScratchDb| {
        let schema = db.describe().await?;
        let mut conn = db.any().await?;
        let mut problems = Vec::new();
        for (table, desc) in &schema {
            let statement = conn.prepare(sql(format!("SELECT * FROM {table}"))).await?;
            let seen: Vec<(String, AnyTypeInfoKind)> = statement
                .columns()
                .iter()
                .map(|c| (c.name().to_owned(), c.type_info().kind()))
                .collect();
            let expected: Vec<(String, Option<AnyTypeInfoKind>)> = desc
                .columns
                .iter()
                .map(|c| {
                    let kind = match c.ty.as_str() {
                        "bigint" => Some(AnyTypeInfoKind::BigInt),
                        "text" => Some(AnyTypeInfoKind::Text),
                        ty if ty.starts_with("varchar(") => Some(AnyTypeInfoKind::Text),
                        _ => None,
                    };
                    (c.name.clone(), kind)
                })
                .collect();
            if seen.len() != expected.len() {
                problems.push(format!(
                    "{table}: Any reports {seen:?}, expected {expected:?}"
                ));
                continue;
            }
            for ((name, kind), (expected_name, expected_kind)) in seen.iter().zip(&expected) {
                match expected_kind {
                    _ if name != expected_name => {
                        problems.push(format!(
                            "{table}: Any column {name}, expected {expected_name}"
                        ));
                    }
                    None => problems.push(format!(
                        "{table}.{name}: Any sees {kind:?}; use BIGINT, VARCHAR(n) or TEXT"
                    )),
                    Some(k) if k != kind => {
                        problems.push(format!("{table}.{name}: Any sees {kind:?}, expected {k:?}"));
                    }
                    Some(_) => {}
                }
            }
        }
        conn.close().await?;
        Ok(problems)
    })
    .await
    .unwrap_or_else(|e| fail(format!("{e}")));
    let report: Vec<String> = results
        .iter()
        .flat_map(|(b, problems)| problems.iter().map(move |p| format!("{}: {p}", b.name())))
        .collect();
    assert!(
        report.is_empty(),
        "Any driver type mismatches:\n{}",
        report.join("\n")
    );
}

/// Unique keys compare exactly (binary) everywhere, values round-trip byte for byte through
/// `Any`, and generated keys are generated.
#[tokio::test]
async fn keys_are_exact_and_generated_alike() {
    // Distinct keys that a case- or accent-insensitive collation would merge.
    let keys = [
        "a", "A", "\u{e4}", "a\u{308}", "\u{df}", "ss", "\u{130}", "i\u{307}",
    ];
    let backends = backends(
        concat!(module_path!(), "::keys_are_exact_and_generated_alike"),
        &ALL,
    );
    let results = for_each_backend(&backends, async |db: &ScratchDb| {
        let b = db.backend;
        let mut conn = db.any().await?;
        let insert_team = format!(
            "INSERT INTO teams (id, name, name_key, created_at) VALUES ({}, {}, {}, {})",
            b.param(1),
            b.param(2),
            b.param(3),
            b.param(4)
        );
        for (i, key) in keys.iter().enumerate() {
            let id = i64::try_from(i)? + 1;
            sqlx::query(sql(insert_team.clone()))
                .bind(id)
                .bind(format!("Team {key}"))
                .bind(*key)
                .bind(1_700_000_000_000_i64)
                .execute(&mut conn)
                .await
                .map_err(|e| format!("inserting name_key {key:?} failed (collation not exact?): {e}"))?;
        }
        let duplicate = sqlx::query(sql(insert_team.clone()))
            .bind(100_i64)
            .bind("again")
            .bind(keys[2])
            .bind(0_i64)
            .execute(&mut conn)
            .await;
        if duplicate.is_ok() {
            return Err("a duplicate name_key was accepted".into());
        }
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, name_key FROM teams ORDER BY id")
            .fetch_all(&mut conn)
            .await?;
        let expected: Vec<(i64, String)> =
            keys.iter().enumerate().map(|(i, k)| (i as i64 + 1, (*k).to_owned())).collect();
        if rows != expected {
            return Err(format!("read back {rows:?}, expected {expected:?}").into());
        }

        let insert_outbox = format!(
            "INSERT INTO outbox (kind, recipients, payload, status, attempts, next_attempt_at, lease_until, \
             last_error, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            b.param(1),
            b.param(2),
            b.param(3),
            b.param(4),
            b.param(5),
            b.param(6),
            b.param(7),
            b.param(8),
            b.param(9)
        );
        for n in 0..2_i64 {
            sqlx::query(sql(insert_outbox.clone()))
                .bind("mail")
                .bind("[\"x@example.org\"]")
                .bind("{}")
                .bind("pending")
                .bind(n)
                .bind(0_i64)
                .bind(None::<i64>)
                .bind(None::<String>)
                .bind(0_i64)
                .execute(&mut conn)
                .await?;
        }
        let ids: Vec<(i64, Option<i64>, Option<String>)> =
            sqlx::query_as("SELECT id, lease_until, last_error FROM outbox ORDER BY id").fetch_all(&mut conn).await?;
        conn.close().await?;
        let id_list: Vec<i64> = ids.iter().map(|r| r.0).collect();
        if id_list.len() != 2 || id_list[0] < 1 || id_list[1] <= id_list[0] || ids.iter().any(|r| r.1.is_some() || r.2.is_some()) {
            return Err(format!("generated outbox rows look wrong: {ids:?}").into());
        }
        Ok(())
    })
    .await;
    if let Err(e) = results {
        fail(format!("{e}"));
    }
}

#[tokio::test]
async fn mysql_tables_are_innodb_utf8mb4_bin() {
    let test = concat!(module_path!(), "::mysql_tables_are_innodb_utf8mb4_bin");
    if backends(test, &[Backend::MySql]).is_empty() {
        return;
    }
    let db = match ScratchDb::create(Backend::MySql).await {
        Ok(db) => db,
        Err(e) => fail(format!("{e}")),
    };
    let problems = mysql_option_problems(&db.url).await;
    db.remove().await;
    let problems = problems.unwrap_or_else(|e| fail(format!("{e}")));
    assert!(
        problems.is_empty(),
        "MySQL table options:\n{}",
        problems.join("\n")
    );
}

#[test]
fn normalisation_and_url_helpers() {
    assert_eq!(sqlite_type("INTEGER"), "bigint");
    assert_eq!(sqlite_type("BIGINT"), "bigint");
    assert_eq!(sqlite_type("VARCHAR(64)"), "varchar(64)");
    assert_eq!(sqlite_type("TEXT"), "text");
    assert_eq!(sqlite_type("SMALLINT"), "other:SMALLINT");
    assert_eq!(postgres_type("character varying(255)"), "varchar(255)");
    assert_eq!(postgres_type("integer"), "other:integer");
    assert_eq!(
        postgres_type("timestamp without time zone"),
        "other:timestamp without time zone"
    );
    assert_eq!(mysql_type("bigint(20)"), "bigint");
    assert_eq!(
        mysql_type("bigint(20) unsigned"),
        "other:bigint(20) unsigned"
    );
    assert_eq!(mysql_type("varchar(320)"), "varchar(320)");
    assert_eq!(mysql_type("mediumtext"), "other:mediumtext");
    assert_eq!(mysql_type("tinyint(1)"), "other:tinyint(1)");
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("mysql://root@127.0.0.1:3306", "x"),
        "mysql://root@127.0.0.1:3306/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    let left = vec![
        "table a".to_owned(),
        "  column x bigint not null".to_owned(),
    ];
    let right = vec!["table a".to_owned(), "  column x text not null".to_owned()];
    let diff = diff_lines(&left, &right);
    assert!(
        diff.contains("-   column x bigint") && diff.contains("+   column x text"),
        "{diff}"
    );
}
