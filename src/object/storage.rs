//! The object's SQLite storage: the schema, what a restart reads back, and the core's writes.
//!
//! Only what must survive is stored: session rows (written on joins, room moves, away and back,
//! and ends; heartbeats write nothing), entities' last-seen times, online periods and info, the
//! webhook queue, the site's key and the visitor-hash salt.

use std::cell::Cell;

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

/// One row as the runtime gives it (`cursor.raw()`: its values in the order of the SELECT),
/// read by position. A value of another type than the column's fails the read, as a row that
/// does not fit its type would. Read by hand: serde-wasm-bindgen's `Deserialize` of a struct
/// per query was about 20 KB of the Worker's Wasm.
struct Row(Vec<SqlStorageValue>);

impl Row {
    fn value(&mut self, i: usize) -> Result<SqlStorageValue> {
        let v = self.0.get_mut(i).ok_or("a stored row lacks a column")?;
        Ok(std::mem::replace(v, SqlStorageValue::Null))
    }

    fn text(&mut self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| "a stored text is null".into())
    }

    fn opt_text(&mut self, i: usize) -> Result<Option<String>> {
        match self.value(i)? {
            SqlStorageValue::String(s) => Ok(Some(s)),
            SqlStorageValue::Null => Ok(None),
            _ => Err("a stored value is not a text".into()),
        }
    }

    fn number(&mut self, i: usize) -> Result<f64> {
        self.opt_number(i)?
            .ok_or_else(|| "a stored number is null".into())
    }

    fn opt_number(&mut self, i: usize) -> Result<Option<f64>> {
        match self.value(i)? {
            SqlStorageValue::Integer(n) => Ok(Some(n as f64)),
            SqlStorageValue::Float(n) => Ok(Some(n)),
            SqlStorageValue::Null => Ok(None),
            _ => Err("a stored value is not a number".into()),
        }
    }

    /// A whole number: a time in ms, a count, a sequence number.
    fn whole(&mut self, i: usize) -> Result<u64> {
        Ok(self.number(i)? as Millis)
    }
}

/// Every row of `cursor`.
fn rows(cursor: SqlCursor) -> Result<Vec<Row>> {
    cursor.raw().map(|r| r.map(Row)).collect()
}

/// A stored minute: `t, max_sessions, max_visitors, close_sessions, close_visitors`.
fn minute(mut r: Row) -> Result<MinuteRow> {
    let mut counts = |s: usize| -> Result<Counts> {
        Ok(Counts {
            sessions: r.number(s)? as u32,
            visitors: r.number(s + 1)? as u32,
        })
    };
    let (max, close) = (counts(1)?, counts(3)?);
    Ok(MinuteRow {
        t: r.whole(0)?,
        max,
        close,
    })
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
        for (name, columns) in [
            (
                "sessions",
                "id, room, visitor, joined_at, restored_at, entity, info, away",
            ),
            ("entities", "id, last_seen, online_since, info"),
        ] {
            let old = rows(self.exec(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                vec![name.into()],
            )?)?;
            let old: Vec<String> = old
                .into_iter()
                .map(|mut r| r.text(0))
                .collect::<Result<_>>()?;
            if old.iter().all(|sql| sql.contains("WITHOUT ROWID")) {
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
        let found = rows(self.exec("SELECT value FROM meta WHERE key = ?", vec![key.into()])?)?;
        found.into_iter().next().map(|mut r| r.text(0)).transpose()
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
        let found = rows(self.exec("SELECT value FROM meta WHERE key = 'salt'", vec![])?)?;
        if let Some(mut r) = found.into_iter().next() {
            return Ok(r.text(0)?.into_bytes());
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
        let found = rows(self.exec(
            "SELECT s.id, s.room, s.visitor, s.entity, s.info, s.away, s.joined_at,
                    s.restored_at, e.last_seen AS entity_last_seen,
                    e.online_since AS entity_online_since
             FROM sessions s LEFT JOIN entities e ON e.id = s.entity",
            vec![],
        )?)?;
        let mut out = Vec::with_capacity(found.len());
        for mut r in found {
            let Some(visitor) = from_hex(&r.text(2)?) else {
                continue;
            };
            let as_millis = |t: Option<f64>| t.map(|t| t as Millis);
            out.push(StoredSession {
                session: r.text(0)?,
                room: r.text(1)?,
                visitor,
                entity: r.opt_text(3)?,
                info: r.opt_text(4)?,
                away: r.opt_number(5)?.is_some_and(|a| a != 0.0),
                joined_at: r.whole(6)?,
                restored_at: as_millis(r.opt_number(7)?),
                entity_last_seen: as_millis(r.opt_number(8)?),
                entity_online_since: as_millis(r.opt_number(9)?),
            });
        }
        Ok(out)
    }

    /// What storage keeps of an entity (for entities not online).
    pub fn entity(&self, entity: &str) -> Result<StoredEntity> {
        let found = rows(self.exec(
            "SELECT last_seen, info FROM entities WHERE id = ?",
            vec![entity.into()],
        )?)?;
        let Some(mut r) = found.into_iter().next() else {
            return Ok(StoredEntity::default());
        };
        Ok(StoredEntity {
            last_seen: Some(r.whole(0)?),
            info: r.opt_text(1)?,
        })
    }

    /// The stored minutes from `first` on, and the last one before it (whose closing counts
    /// carry into the range), oldest first.
    pub fn history(&self, first: Millis) -> Result<Vec<MinuteRow>> {
        const COLUMNS: &str = "t, max_sessions, max_visitors, close_sessions, close_visitors";
        let before = rows(self.exec(
            &format!("SELECT {COLUMNS} FROM history WHERE t < ? ORDER BY t DESC LIMIT 1"),
            vec![millis(first)],
        )?)?;
        let from = rows(self.exec(
            &format!("SELECT {COLUMNS} FROM history WHERE t >= ? ORDER BY t"),
            vec![millis(first)],
        )?)?;
        before.into_iter().chain(from).map(minute).collect()
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
        let found = rows(self.exec(
            "SELECT id, entity, seq, body, attempts, created_at, next_at FROM webhooks",
            vec![],
        )?)?;
        found
            .into_iter()
            .map(|mut r| {
                Ok(Delivery {
                    id: r.text(0)?,
                    entity: r.text(1)?,
                    seq: r.whole(2)?,
                    body: r.text(3)?,
                    attempts: r.number(4)? as u32,
                    created_at: r.whole(5)?,
                    next_at: r.whole(6)?,
                })
            })
            .collect()
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
