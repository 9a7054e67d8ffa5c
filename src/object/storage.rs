//! The object's SQLite storage: the schema, what a restart reads back, and the core's writes.
//!
//! Only what must survive is stored: session rows (written on joins, room moves, away and back,
//! and ends; heartbeats write nothing), entities' last-seen times, online periods and info, the
//! webhook queue, the site's key and the visitor-hash salt.

use std::cell::Cell;

use serde::Deserialize;
use worker::{Result, SqlCursor, SqlStorage, SqlStorageValue};

use crate::log::WebhookLine;
use crate::presence::history::{MinuteRow, KEEP_MS};
use crate::presence::{Counts, Delivery, Millis, QueueChange, StoredEntity, StoredSession, Write};
use crate::visitor::{from_hex, to_hex};

/// The tables. Those keyed by text are WITHOUT ROWID: a write then touches one row, not a row
/// and its key's index (half the rows a join is billed for).
const TABLES: [(&str, &str); 5] = [
    (
        "sessions",
        "(id TEXT PRIMARY KEY, room TEXT NOT NULL, visitor TEXT NOT NULL,
          joined_at INTEGER NOT NULL, restored_at INTEGER, entity TEXT, info TEXT,
          away INTEGER) WITHOUT ROWID",
    ),
    (
        "entities",
        "(id TEXT PRIMARY KEY, last_seen INTEGER NOT NULL, online_since INTEGER,
          info TEXT) WITHOUT ROWID",
    ),
    (
        "meta",
        "(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    ),
    (
        "history",
        "(t INTEGER PRIMARY KEY, max_sessions INTEGER NOT NULL, max_visitors INTEGER NOT NULL,
          close_sessions INTEGER NOT NULL, close_visitors INTEGER NOT NULL)",
    ),
    (
        "webhooks",
        "(id TEXT PRIMARY KEY, entity TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
          attempts INTEGER NOT NULL, created_at INTEGER NOT NULL,
          next_at INTEGER NOT NULL) WITHOUT ROWID",
    ),
];

pub struct Storage {
    sql: SqlStorage,
    /// Rows written since this instance started, from the SQL cursors (for the bench).
    rows_written: Cell<u64>,
    /// Of those, the history's minute rows.
    history_rows_written: Cell<u64>,
}

#[derive(Deserialize)]
struct SessionRow {
    id: String,
    room: String,
    visitor: String,
    entity: Option<String>,
    info: Option<String>,
    away: Option<f64>,
    entity_last_seen: Option<f64>,
    entity_online_since: Option<f64>,
    joined_at: f64,
    restored_at: Option<f64>,
}

#[derive(Deserialize)]
struct EntityRow {
    last_seen: f64,
    info: Option<String>,
}

#[derive(Deserialize)]
struct HistoryRow {
    t: f64,
    max_sessions: f64,
    max_visitors: f64,
    close_sessions: f64,
    close_visitors: f64,
}

impl HistoryRow {
    fn row(&self) -> MinuteRow {
        let counts = |s: f64, v: f64| Counts {
            sessions: s as u32,
            visitors: v as u32,
        };
        MinuteRow {
            t: self.t as Millis,
            max: counts(self.max_sessions, self.max_visitors),
            close: counts(self.close_sessions, self.close_visitors),
        }
    }
}

#[derive(Deserialize)]
struct WebhookRow {
    id: String,
    entity: String,
    seq: f64,
    body: String,
    attempts: f64,
    created_at: f64,
    next_at: f64,
}

#[derive(Deserialize)]
struct MetaRow {
    value: String,
}

fn millis(t: Millis) -> SqlStorageValue {
    SqlStorageValue::Float(t as f64)
}

fn text_or_null(v: Option<String>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, SqlStorageValue::from)
}

impl Storage {
    /// Opens the storage and brings its schema up to date.
    pub fn open(sql: SqlStorage) -> Result<Storage> {
        let s = Storage {
            sql,
            rows_written: Cell::new(0),
            history_rows_written: Cell::new(0),
        };
        for (name, body) in TABLES {
            s.exec(&format!("CREATE TABLE IF NOT EXISTS {name} {body}"), vec![])?;
        }
        s.upgrade_old_tables()?;
        Ok(s)
    }

    /// Objects made before the current schema: their `sessions` and `entities` are rowid
    /// tables that may lack columns. They are rebuilt once, their rows kept.
    fn upgrade_old_tables(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct Schema {
            sql: String,
        }
        for (name, columns) in [
            (
                "sessions",
                "id, room, visitor, joined_at, restored_at, entity, info, away",
            ),
            ("entities", "id, last_seen, online_since, info"),
        ] {
            let old: Vec<Schema> = self
                .exec(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                    vec![name.into()],
                )?
                .to_array()?;
            if old.iter().all(|t| t.sql.contains("WITHOUT ROWID")) {
                continue;
            }
            for added in [
                "entity TEXT",
                "info TEXT",
                "away INTEGER",
                "online_since INTEGER",
            ] {
                // an error means the column is there, or is not one of this table's
                let _ = self
                    .sql
                    .exec(&format!("ALTER TABLE {name} ADD COLUMN {added}"), None);
            }
            let body = TABLES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, b)| *b)
                .unwrap_or_default();
            self.exec(&format!("ALTER TABLE {name} RENAME TO {name}_old"), vec![])?;
            self.exec(&format!("CREATE TABLE {name} {body}"), vec![])?;
            self.exec(
                &format!("INSERT INTO {name} ({columns}) SELECT {columns} FROM {name}_old"),
                vec![],
            )?;
            self.exec(&format!("DROP TABLE {name}_old"), vec![])?;
        }
        Ok(())
    }

    fn exec(&self, query: &str, bindings: Vec<SqlStorageValue>) -> Result<SqlCursor> {
        let cursor = self.sql.exec(query, Some(bindings))?;
        self.rows_written
            .set(self.rows_written.get() + cursor.rows_written() as u64);
        Ok(cursor)
    }

    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    pub fn rows_written(&self) -> u64 {
        self.rows_written.get()
    }

    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    pub fn history_rows_written(&self) -> u64 {
        self.history_rows_written.get()
    }

    /// A value of the meta table.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        let rows: Vec<MetaRow> = self
            .exec("SELECT value FROM meta WHERE key = ?", vec![key.into()])?
            .to_array()?;
        Ok(rows.into_iter().next().map(|r| r.value))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            vec![key.into(), value.into()],
        )?;
        Ok(())
    }

    /// The site's salt for visitor hashes, made once (from `fresh`) and kept.
    pub fn salt(&self, fresh: impl FnOnce() -> String) -> Result<Vec<u8>> {
        let rows: Vec<MetaRow> = self
            .exec("SELECT value FROM meta WHERE key = 'salt'", vec![])?
            .to_array()?;
        if let Some(r) = rows.first() {
            return Ok(r.value.as_bytes().to_vec());
        }
        let salt = fresh();
        self.exec(
            "INSERT INTO meta (key, value) VALUES ('salt', ?)",
            vec![salt.as_str().into()],
        )?;
        Ok(salt.into_bytes())
    }

    /// Every stored session, with its entity's last-seen time.
    pub fn sessions(&self) -> Result<Vec<StoredSession>> {
        let rows: Vec<SessionRow> = self
            .exec(
                "SELECT s.id, s.room, s.visitor, s.entity, s.info, s.away, s.joined_at,
                        s.restored_at, e.last_seen AS entity_last_seen,
                        e.online_since AS entity_online_since
                 FROM sessions s LEFT JOIN entities e ON e.id = s.entity",
                vec![],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(StoredSession {
                    visitor: from_hex(&r.visitor)?,
                    entity: r.entity,
                    entity_last_seen: r.entity_last_seen.map(|t| t as Millis),
                    session: r.id,
                    room: r.room,
                    joined_at: r.joined_at as Millis,
                    restored_at: r.restored_at.map(|t| t as Millis),
                    away: r.away.is_some_and(|a| a != 0.0),
                    info: r.info,
                    entity_online_since: r.entity_online_since.map(|t| t as Millis),
                })
            })
            .collect())
    }

    /// What storage keeps of an entity (for entities not online).
    pub fn entity(&self, entity: &str) -> Result<StoredEntity> {
        let rows: Vec<EntityRow> = self
            .exec(
                "SELECT last_seen, info FROM entities WHERE id = ?",
                vec![entity.into()],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .next()
            .map(|r| StoredEntity {
                last_seen: Some(r.last_seen as Millis),
                info: r.info,
            })
            .unwrap_or_default())
    }

    /// The stored minutes from `first` on, and the last one before it (whose closing counts
    /// carry into the range), oldest first.
    pub fn history(&self, first: Millis) -> Result<Vec<MinuteRow>> {
        const COLUMNS: &str = "t, max_sessions, max_visitors, close_sessions, close_visitors";
        let before: Vec<HistoryRow> = self
            .exec(
                &format!("SELECT {COLUMNS} FROM history WHERE t < ? ORDER BY t DESC LIMIT 1"),
                vec![millis(first)],
            )?
            .to_array()?;
        let rows: Vec<HistoryRow> = self
            .exec(
                &format!("SELECT {COLUMNS} FROM history WHERE t >= ? ORDER BY t"),
                vec![millis(first)],
            )?
            .to_array()?;
        Ok(before
            .iter()
            .chain(rows.iter())
            .map(HistoryRow::row)
            .collect())
    }

    /// Deletes minutes older than [`KEEP_MS`] before `now`, but the newest of them (its
    /// closing counts still carry into the oldest range).
    pub fn prune_history(&self, now: Millis) -> Result<()> {
        let cutoff = now.saturating_sub(KEEP_MS);
        self.exec(
            "DELETE FROM history WHERE t < ? AND t < (SELECT max(t) FROM history WHERE t < ?)",
            vec![millis(cutoff), millis(cutoff)],
        )?;
        Ok(())
    }

    /// The webhook deliveries not yet done.
    pub fn webhooks(&self) -> Result<Vec<Delivery>> {
        let rows: Vec<WebhookRow> = self
            .exec(
                "SELECT id, entity, seq, body, attempts, created_at, next_at FROM webhooks",
                vec![],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| Delivery {
                id: r.id,
                entity: r.entity,
                seq: r.seq as u64,
                body: r.body,
                attempts: r.attempts as u32,
                created_at: r.created_at as Millis,
                next_at: r.next_at as Millis,
            })
            .collect())
    }

    /// Carries out the core's writes, in order.
    pub fn apply(&self, writes: Vec<Write>) -> Result<()> {
        for w in writes {
            match w {
                Write::Entity(r) => self.write_entity(r)?,
                Write::History(r) => self.write_history(r)?,
                Write::Webhook(change) => self.write_webhook(change)?,
                session => self.write_session(session)?,
            }
        }
        Ok(())
    }

    /// A session's row: stored, deleted, confirmed or marked as restored.
    fn write_session(&self, w: Write) -> Result<()> {
        match w {
            Write::Upsert {
                session,
                room,
                visitor,
                entity,
                info,
                joined_at,
                away,
            } => {
                self.exec(
                    "INSERT OR REPLACE INTO sessions
                       (id, room, visitor, entity, info, away, joined_at, restored_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                    vec![
                        session.into(),
                        room.into(),
                        to_hex(visitor).into(),
                        text_or_null(entity),
                        text_or_null(info),
                        SqlStorageValue::Integer(i64::from(away)),
                        millis(joined_at),
                    ],
                )?;
            }
            Write::Delete { session } => {
                self.exec("DELETE FROM sessions WHERE id = ?", vec![session.into()])?;
            }
            Write::Confirm { session } => {
                self.exec(
                    "UPDATE sessions SET restored_at = NULL WHERE id = ?",
                    vec![session.into()],
                )?;
            }
            Write::MarkRestored { at, sessions } => {
                for s in sessions {
                    self.exec(
                        "UPDATE sessions SET restored_at = ? WHERE id = ?",
                        vec![millis(at), s.into()],
                    )?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// An entity's last-seen, online-since and info.
    fn write_entity(&self, r: crate::presence::entities::EntityRecord) -> Result<()> {
        self.exec(
            "INSERT INTO entities (id, last_seen, online_since, info) VALUES (?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET
                   last_seen = max(last_seen, excluded.last_seen),
                   online_since = excluded.online_since,
                   info = coalesce(excluded.info, info)",
            vec![
                r.entity.into(),
                millis(r.last_seen),
                millis(r.online_since),
                text_or_null(r.info),
            ],
        )?;
        Ok(())
    }

    /// A minute of history.
    fn write_history(&self, r: crate::presence::history::MinuteRow) -> Result<()> {
        let n = |v: u32| SqlStorageValue::Integer(i64::from(v));
        self.history_rows_written
            .set(self.history_rows_written.get() + 1);
        self.exec(
            "INSERT OR REPLACE INTO history
                   (t, max_sessions, max_visitors, close_sessions, close_visitors)
                 VALUES (?, ?, ?, ?, ?)",
            vec![
                millis(r.t),
                n(r.max.sessions),
                n(r.max.visitors),
                n(r.close.sessions),
                n(r.close.visitors),
            ],
        )?;
        Ok(())
    }

    /// A change of the webhook queue (a dropped or abandoned delivery is logged).
    fn write_webhook(&self, change: QueueChange) -> Result<()> {
        match change {
            QueueChange::Added(d) => {
                self.exec(
                    "INSERT OR REPLACE INTO webhooks
                       (id, entity, seq, body, attempts, created_at, next_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                    vec![
                        d.id.into(),
                        d.entity.into(),
                        SqlStorageValue::Float(d.seq as f64),
                        d.body.into(),
                        SqlStorageValue::Float(f64::from(d.attempts)),
                        millis(d.created_at),
                        millis(d.next_at),
                    ],
                )?;
            }
            QueueChange::Retry {
                id,
                attempts,
                next_at,
            } => {
                self.exec(
                    "UPDATE webhooks SET attempts = ?, next_at = ? WHERE id = ?",
                    vec![
                        SqlStorageValue::Float(f64::from(attempts)),
                        millis(next_at),
                        id.into(),
                    ],
                )?;
            }
            QueueChange::Dropped { id } => {
                let line = WebhookLine {
                    event: "webhook_dropped",
                    id: &id,
                };
                worker::console_warn!("{}", line.text());
                self.exec("DELETE FROM webhooks WHERE id = ?", vec![id.into()])?;
            }
            QueueChange::Removed { id, given_up } => {
                if given_up {
                    let line = WebhookLine {
                        event: "webhook_given_up",
                        id: &id,
                    };
                    worker::console_error!("{}", line.text());
                }
                self.exec("DELETE FROM webhooks WHERE id = ?", vec![id.into()])?;
            }
        }
        Ok(())
    }
}
